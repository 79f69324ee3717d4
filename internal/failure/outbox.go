package failure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ocxhq/ocx/events"
)

// Lease is how long the writer of a message alone may send it. It is longer
// than any function's timeout, so once it lapses the writer has certainly
// stopped, and whoever claims the message next is the only sender.
const Lease = 2 * time.Minute

// Message is a failure event waiting to go on the bus. It is written in the
// same atomic write as the change it announces and deleted once published,
// so a crash between the two delays the event instead of losing it.
type Message struct {
	// ID names the message: one per failure and event type, since a
	// failure is detected, acknowledged and resolved at most once each.
	ID         string
	DetailType string
	Failure    events.Failure
	// LeaseUntil is when others may claim the message if it is still here.
	LeaseUntil time.Time
}

// NewMessage announces f's current state, leased to its writer from now.
func NewMessage(f events.Failure, now time.Time) Message {
	typ := Announcement(f.State)
	return Message{ID: f.ID + ":" + typ, DetailType: typ, Failure: f, LeaseUntil: now.Add(Lease)}
}

// Event is the bus event the message stands for.
func (m Message) Event() events.Event {
	at := m.Failure.DetectedAt
	if n := len(m.Failure.History); n > 0 {
		at = m.Failure.History[n-1].At
	}
	return events.Event{Source: events.SourceRules, DetailType: m.DetailType, Detail: m.Failure, Time: at}
}

// Outbox holds messages not yet confirmed on the bus.
type Outbox interface {
	// Due returns up to limit messages whose lease lapsed by now.
	Due(ctx context.Context, now time.Time, limit int) ([]Message, error)
	// Claim leases a lapsed message to the caller until `until`; false when
	// another sender holds it or it was sent meanwhile.
	Claim(ctx context.Context, id string, now, until time.Time) (bool, error)
	// Sent deletes a published message.
	Sent(ctx context.Context, id string) error
}

// Announcer publishes outbox messages: at once after the change that wrote
// them, and later for any whose writer stopped before publishing.
type Announcer struct {
	Outbox Outbox
	Bus    events.Publisher
	Log    *slog.Logger
}

// Send publishes msgs (which the caller holds the lease of) and deletes
// them from the outbox. A message published but not deleted is published
// again after its lease; failure.detected consumers dedupe by failure id.
func (a *Announcer) Send(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	evs := make([]events.Event, len(msgs))
	for i, m := range msgs {
		evs[i] = m.Event()
	}
	if err := a.Bus.Publish(ctx, evs...); err != nil {
		return fmt.Errorf("publish %d failure events: %w", len(msgs), err)
	}
	var errs []error
	for _, m := range msgs {
		if err := a.Outbox.Sent(ctx, m.ID); err != nil {
			errs = append(errs, fmt.Errorf("clear sent message %s: %w", m.ID, err))
		}
		a.Log.Info("failure event published", "failure_id", m.Failure.ID, "type", m.DetailType, "rule", m.Failure.RuleID, "team", m.Failure.Team)
	}
	return errors.Join(errs...)
}

// Flush sends every message whose writer did not, claiming each first so
// that concurrent flushes send it once. It returns how many it sent.
func (a *Announcer) Flush(ctx context.Context, now time.Time) (int, error) {
	sent := 0
	for {
		due, err := a.Outbox.Due(ctx, now, 25)
		if err != nil {
			return sent, fmt.Errorf("read due failure events: %w", err)
		}
		var mine []Message
		for _, m := range due {
			ok, err := a.Outbox.Claim(ctx, m.ID, now, now.Add(Lease))
			if err != nil {
				return sent, fmt.Errorf("claim failure event %s: %w", m.ID, err)
			}
			if ok {
				mine = append(mine, m)
			}
		}
		if len(mine) > 0 {
			a.Log.Warn("publishing failure events their writer left behind", "count", len(mine))
		}
		if err := a.Send(ctx, mine...); err != nil {
			return sent, err
		}
		sent += len(mine)
		// A short page means nothing else is due; a page of messages all
		// claimed by others would otherwise be read again at once.
		if len(due) < 25 || len(mine) == 0 {
			return sent, nil
		}
	}
}
