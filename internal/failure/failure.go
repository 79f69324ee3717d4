// Package failure is the lifecycle of an operational failure a rule found:
// open, then acknowledged, then resolved, each step recorded with who made
// it, when and why. Every change is announced on the bus exactly once
// (failure.detected, failure.acknowledged, failure.resolved) through an
// outbox written in the same atomic write as the change itself.
//
// The record is events.Failure, so what the store keeps, what the API
// returns and what the bus carries are one shape.
package failure

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ocxhq/ocx/events"
)

// States of a failure.
const (
	Open         = "open"
	Acknowledged = "acknowledged"
	Resolved     = "resolved"
)

var (
	// ErrNotFound is returned for an id no failure has.
	ErrNotFound = errors.New("no such failure")
	// ErrTransition is returned for a step the lifecycle does not allow,
	// such as acknowledging a resolved failure.
	ErrTransition = errors.New("transition not allowed")
	// ErrConflict is returned by Store.Transition when the stored record
	// changed since it was read; the caller reads again and retries.
	ErrConflict = errors.New("failure changed concurrently")
)

// next lists the states each state may move to.
var next = map[string][]string{
	Open:         {Acknowledged, Resolved},
	Acknowledged: {Resolved},
	Resolved:     nil,
}

// Opened returns f as a new open failure: its first history step, one
// occurrence, last seen when it was detected unless already set.
func Opened(f events.Failure, by string) events.Failure {
	f.State = Open
	f.History = []events.FailureStep{{State: Open, By: by, At: f.DetectedAt}}
	f.Occurrences = 1
	if f.LastSeenAt.IsZero() {
		f.LastSeenAt = f.DetectedAt
	}
	return f
}

// Move returns f moved to state `to` by `by` at `at`, with the step appended
// to its history. changed is false, and f is returned as it is, when f is
// already in that state, so a repeated click or a retried call is harmless.
func Move(f events.Failure, to, by string, at time.Time, note string) (moved events.Failure, changed bool, err error) {
	from := f.State
	if from == "" {
		from = Open
	}
	if from == to {
		return f, false, nil
	}
	if _, known := next[to]; !known {
		return f, false, fmt.Errorf("%w: unknown state %q", ErrTransition, to)
	}
	allowed := false
	for _, s := range next[from] {
		allowed = allowed || s == to
	}
	if !allowed {
		return f, false, fmt.Errorf("%w: failure %s is %s and cannot become %s", ErrTransition, f.ID, from, to)
	}
	if by == "" {
		return f, false, fmt.Errorf("%w: a step needs who made it", ErrTransition)
	}
	f.State = to
	// A fresh slice: the caller's record must not see the step appended.
	f.History = append(append([]events.FailureStep(nil), f.History...), events.FailureStep{State: to, By: by, At: at.UTC(), Note: note})
	return f, true, nil
}

// Announcement is the event type that announces a failure reaching state.
func Announcement(state string) string {
	switch state {
	case Acknowledged:
		return events.TypeFailureAcknowledged
	case Resolved:
		return events.TypeFailureResolved
	default:
		return events.TypeFailureDetected
	}
}

// Filter narrows a listing; empty fields match everything.
type Filter struct {
	State    string
	Team     string
	Rule     string
	Severity string
	// Oldest lists the oldest detected first instead of the newest.
	Oldest bool
}

// Store keeps failure records.
type Store interface {
	// Get returns the failure with id, or ErrNotFound.
	Get(ctx context.Context, id string) (events.Failure, error)
	// List returns failures newest first (oldest first with f.Oldest), a
	// page at a time; cursor is "" for the first page and next is "" after
	// the last.
	List(ctx context.Context, f Filter, cursor string, limit int) (page []events.Failure, next string, err error)
	// Transition stores f, which moved from state `from`, together with
	// the message announcing the move, in one atomic write. It returns
	// ErrConflict when the stored failure is no longer in `from`.
	Transition(ctx context.Context, f events.Failure, from string, m Message) error
}
