// Package loop closes the loop on a failure: it opens a help-desk ticket
// when the rule asks for one, holds the team to the rule's follow-up
// deadline (escalating when nobody reached the customer in time), and
// decides within a recovery window whether the customer recovered or
// churned, keeping why.
//
// The notify function runs the failure side (a detected failure opens its
// loop and ticket; the loop's wake-ups fire the follow-up deadline and the
// end of the recovery window), because that is where ticket retries and
// wake-ups already live. The rules function, which sees every
// interaction, feeds it what customers and agents do (Signal).
package loop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
)

// ActionZendeskTicket is the rule action that opens a Zendesk ticket.
const ActionZendeskTicket = "zendesk_ticket"

// Actions lists the actions a rule may ask for.
var Actions = []string{ActionZendeskTicket}

// DefaultRecoveryWindow is how long after a failure OCX watches its
// customer for a sign of recovery or churn.
const DefaultRecoveryWindow = 30 * 24 * time.Hour

// Policy is what a rule asks of a failure's loop.
type Policy struct {
	Actions []string
	// FollowUp is how soon the team must reach the customer; zero sets
	// no deadline.
	FollowUp time.Duration
	// RecoveryWindow is how long the outcome is watched for; zero means
	// DefaultRecoveryWindow.
	RecoveryWindow time.Duration
	// AckReminder reminds of an acknowledged failure nobody resolved,
	// every AckReminder; zero never reminds.
	AckReminder time.Duration
	// AutoResolve resolves a failure whose condition has not recurred for
	// this long; zero never does.
	AutoResolve time.Duration
}

// Wants reports whether the policy asks for action.
func (p Policy) Wants(action string) bool { return slices.Contains(p.Actions, action) }

// PolicyOf is what the rule that raised f asked of its loop, as carried
// on the failure (events.Failure.Policy).
func PolicyOf(f events.Failure) Policy {
	if f.Policy == nil {
		return Policy{}
	}
	sec := func(n int64) time.Duration { return time.Duration(n) * time.Second }
	return Policy{Actions: f.Policy.Actions, FollowUp: sec(f.Policy.FollowUpSeconds),
		RecoveryWindow: sec(f.Policy.RecoveryWindowSeconds), AckReminder: sec(f.Policy.AckReminderSeconds),
		AutoResolve: sec(f.Policy.AutoResolveSeconds)}
}

// Event is the policy as a failure carries it; nil when it asks nothing.
func (p Policy) Event() *events.LoopPolicy {
	if len(p.Actions) == 0 && p.FollowUp == 0 && p.RecoveryWindow == 0 && p.AckReminder == 0 && p.AutoResolve == 0 {
		return nil
	}
	sec := func(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }
	return &events.LoopPolicy{Actions: p.Actions, FollowUpSeconds: sec(p.FollowUp), RecoveryWindowSeconds: sec(p.RecoveryWindow),
		AckReminderSeconds: sec(p.AckReminder), AutoResolveSeconds: sec(p.AutoResolve)}
}

// Record is a failure's loop as stored: the public FailureLoop plus the
// bookkeeping that makes every step happen once.
type Record struct {
	events.FailureLoop
	// WantsTicket is set when the rule asked for a ticket; TicketLease
	// holds the ticket slot for the attempt creating it, and TicketError
	// says why the last attempt failed.
	WantsTicket bool      `json:"wants_ticket,omitempty"`
	TicketLease time.Time `json:"ticket_lease,omitzero"`
	TicketError string    `json:"ticket_error,omitempty"`
	// TicketFinal is set when the help desk refused the ticket for good
	// (an invalid record, no requester email): it is not tried again.
	TicketFinal bool `json:"ticket_final,omitempty"`
	// LastActivityAt is the customer's latest event after the failure;
	// RepeatContact is set when one of them was a new contact.
	LastActivityAt time.Time `json:"last_activity_at,omitzero"`
	RepeatContact  bool      `json:"repeat_contact,omitempty"`
	// AckedAt is when the failure was acknowledged; AckRemindAt when the
	// next reminder is due and AckReminders how many were sent.
	AckedAt      time.Time `json:"acked_at,omitzero"`
	AckRemindAt  time.Time `json:"ack_remind_at,omitzero"`
	AckReminders int       `json:"ack_reminders,omitempty"`
	// AutoResolveCheck is when to look whether the condition stayed quiet
	// long enough to resolve the failure.
	AutoResolveCheck time.Time `json:"auto_resolve_check,omitzero"`
	// Unannounced lists event types recorded but not yet on the bus.
	Unannounced []string `json:"unannounced,omitempty"`
	// Version guards concurrent writers; 0 for a record not yet stored.
	Version int64 `json:"version"`
}

// Decided reports whether the outcome is known.
func (r Record) Decided() bool { return r.Outcome != "" }

// NextAt is the loop's next instant something may be due: the follow-up
// deadline, a ticket retry, the end of the recovery window, a reminder,
// an auto-resolution check; zero when nothing is pending. The store
// indexes loops by it, so the sweep finds those coming due.
func (r Record) NextAt() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if r.FollowedUpAt.IsZero() && r.EscalatedAt.IsZero() && r.ResolvedAt.IsZero() {
		consider(r.FollowUpDue)
	}
	if r.WantsTicket && r.TicketID == "" && !r.TicketFinal {
		// Retried once its lease lapses (or at once without one).
		if r.TicketLease.IsZero() {
			consider(r.DetectedAt)
		} else {
			consider(r.TicketLease)
		}
	}
	if !r.Decided() {
		consider(r.DecideBy)
	}
	if r.ResolvedAt.IsZero() {
		consider(r.AckRemindAt)
		consider(r.AutoResolveCheck)
	}
	if len(r.Unannounced) > 0 {
		consider(r.DetectedAt)
	}
	return next
}

var (
	// ErrConflict is returned by Store.Put when the stored version moved.
	ErrConflict = errors.New("loop changed concurrently")
	// ErrNotFound is returned for a failure with no loop.
	ErrNotFound = errors.New("no loop for failure")
)

// Store keeps loops.
type Store interface {
	// Get returns the loop of a failure, or ErrNotFound.
	Get(ctx context.Context, failureID string) (Record, error)
	// Put stores r if the stored version is still r.Version (0: none
	// stored), as version r.Version+1, and keeps the indexes: the
	// customer's undecided loops and the loop of a ticket.
	Put(ctx context.Context, r Record) error
	// OfCustomer lists the failure ids of a customer's undecided loops.
	OfCustomer(ctx context.Context, customerID string) ([]string, error)
	// ByTicket returns the failure a ticket was opened for, or ErrNotFound.
	ByTicket(ctx context.Context, ticketID string) (string, error)
	// Due lists up to limit failure ids whose loop's NextAt is at or
	// before until, soonest first.
	Due(ctx context.Context, until time.Time, limit int) ([]string, error)
}

// maxAttempts bounds retries of an update that keeps meeting concurrent
// writers.
const maxAttempts = 8

// update reads the loop of id, applies change and stores it; change
// reports whether it changed anything. It retries on ErrConflict.
func update(ctx context.Context, s Store, id string, change func(r *Record) (bool, error)) (Record, bool, error) {
	for attempt := 1; ; attempt++ {
		r, err := s.Get(ctx, id)
		if err != nil {
			return r, false, err
		}
		changed, err := change(&r)
		if err != nil || !changed {
			return r, false, err
		}
		err = s.Put(ctx, r)
		if errors.Is(err, ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return r, false, fmt.Errorf("store loop of failure %s: %w", id, err)
		}
		r.Version++
		return r, true, nil
	}
}

// announce adds an event type to announce, once.
func (r *Record) announce(typ string) {
	if !slices.Contains(r.Unannounced, typ) {
		r.Unannounced = append(r.Unannounced, typ)
	}
}

// journeyOf is the journey a failure is about, read as the failure
// metrics read it: from its evidence when that is a journey event.
func journeyOf(f events.Failure) string {
	j := ""
	for _, ev := range f.Evidence {
		if strings.HasPrefix(ev.Type, "journey.") {
			if v, ok := ev.Attributes["journey"].(string); ok {
				j = v
			}
		}
	}
	return j
}
