package failure

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ocxhq/ocx/events"
)

// Kinds of a failure's activity entry.
const (
	KindNote   = "note"
	KindAssign = "assign"
)

// MaxNote bounds a note's length in characters.
const MaxNote = 2000

// ErrInvalid is returned for a note or assignment the lifecycle refuses
// (empty, too long, no author).
var ErrInvalid = errors.New("invalid")

// Activity is a note on a failure or its (re)assignment, recorded with who
// made it and when. Notes are kept beside the failure record, not in it, so
// writing one never races a lifecycle step.
type Activity struct {
	ID   string    `json:"id"`
	Kind string    `json:"kind"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	// Text is the note; empty for an assignment.
	Text string `json:"text,omitempty"`
	// Assignee is whom the failure was assigned to ("" unassigns).
	Assignee string `json:"assignee,omitempty"`
}

// Assignment is who a failure is assigned to, by whom and when.
type Assignment struct {
	Assignee string    `json:"assignee"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

// Notebook keeps the activity of failures.
type Notebook interface {
	// Record stores a; for KindAssign it also becomes the failure's
	// current assignment.
	Record(ctx context.Context, failureID string, a Activity) error
	// Activity lists a failure's entries, oldest first.
	Activity(ctx context.Context, failureID string) ([]Activity, error)
	// Assignments returns the current assignment of each of ids that has
	// one.
	Assignments(ctx context.Context, ids []string) (map[string]Assignment, error)
}

// Detail is a failure with its assignment and activity, as GET
// /v1/failures/{id} returns it.
type Detail struct {
	events.Failure
	Assignment *Assignment `json:"assignment,omitempty"`
	Activity   []Activity  `json:"activity"`
}

// Listed is a failure in a listing, with its current assignment.
type Listed struct {
	events.Failure
	Assignment *Assignment `json:"assignment,omitempty"`
}

// Assign records that `by` assigned failure id to assignee ("" to
// unassign).
func (s *Service) Assign(ctx context.Context, id, assignee, by string) (Activity, error) {
	assignee = strings.TrimSpace(assignee)
	if utf8.RuneCountInString(assignee) > 128 {
		return Activity{}, fmt.Errorf("%w: assignee over 128 characters", ErrInvalid)
	}
	return s.record(ctx, id, Activity{Kind: KindAssign, Assignee: assignee, By: by})
}

// Note records a note by `by` on failure id.
func (s *Service) Note(ctx context.Context, id, text, by string) (Activity, error) {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return Activity{}, fmt.Errorf("%w: a note needs text", ErrInvalid)
	case utf8.RuneCountInString(text) > MaxNote:
		return Activity{}, fmt.Errorf("%w: a note is at most %d characters", ErrInvalid, MaxNote)
	}
	return s.record(ctx, id, Activity{Kind: KindNote, Text: text, By: by})
}

func (s *Service) record(ctx context.Context, id string, a Activity) (Activity, error) {
	if a.By == "" {
		return Activity{}, fmt.Errorf("%w: an entry needs who made it", ErrInvalid)
	}
	if s.Notebook == nil {
		return Activity{}, errors.New("failure notes are not configured")
	}
	if _, err := s.Store.Get(ctx, id); err != nil {
		return Activity{}, fmt.Errorf("read failure %s: %w", id, err)
	}
	// Entries sort by id: time, then how many came before (a stopped or
	// coarse clock gives several entries one instant), then a random tail.
	prior, err := s.Notebook.Activity(ctx, id)
	if err != nil {
		return Activity{}, fmt.Errorf("read activity of failure %s: %w", id, err)
	}
	a.At = s.Now().UTC()
	a.ID = newActivityID(a.At, len(prior))
	if err := s.Notebook.Record(ctx, id, a); err != nil {
		return Activity{}, fmt.Errorf("record %s on failure %s: %w", a.Kind, id, err)
	}
	return a, nil
}

// Detail returns failure id with its assignment and activity.
func (s *Service) Detail(ctx context.Context, id string) (Detail, error) {
	f, err := s.Store.Get(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Failure: f, Activity: []Activity{}}
	if s.Notebook == nil {
		return d, nil
	}
	acts, err := s.Notebook.Activity(ctx, id)
	if err != nil {
		return Detail{}, fmt.Errorf("read activity of failure %s: %w", id, err)
	}
	if acts != nil {
		d.Activity = acts
	}
	for _, a := range acts {
		if a.Kind == KindAssign {
			d.Assignment = &Assignment{Assignee: a.Assignee, By: a.By, At: a.At}
		}
	}
	if d.Assignment != nil && d.Assignment.Assignee == "" {
		d.Assignment = nil
	}
	return d, nil
}

// newActivityID sorts by time, then by the entry's place among the
// failure's entries, then randomly.
func newActivityID(at time.Time, seq int) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("act_%s_%05d_%s", at.UTC().Format("20060102T150405.000000000Z"), seq, hex.EncodeToString(b[:]))
}
