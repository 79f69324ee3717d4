package failure

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ocxhq/ocx/events"
)

// Service moves failures through their lifecycle. It is what a person's
// action (a Slack button, an API call) and a rule's auto-resolution call.
type Service struct {
	Store     Store
	Announcer *Announcer
	Now       func() time.Time
	// Notebook keeps assignments and notes; nil refuses them.
	Notebook Notebook
}

// maxAttempts bounds retries of a transition that keeps meeting concurrent
// changes; each retry reads the record afresh.
const maxAttempts = 5

// Acknowledge records that `by` (e.g. "slack:U024BE7LH" or an email) is
// on the failure and announces failure.acknowledged. Acknowledging an
// acknowledged failure returns it unchanged; a resolved one gives
// ErrTransition.
func (s *Service) Acknowledge(ctx context.Context, id, by, note string) (events.Failure, error) {
	return s.move(ctx, id, Acknowledged, by, note)
}

// Resolve records that the failure is over and announces failure.resolved.
// Resolving a resolved failure returns it unchanged.
func (s *Service) Resolve(ctx context.Context, id, by, note string) (events.Failure, error) {
	return s.move(ctx, id, Resolved, by, note)
}

func (s *Service) move(ctx context.Context, id, to, by, note string) (events.Failure, error) {
	for attempt := 1; ; attempt++ {
		f, err := s.Store.Get(ctx, id)
		if err != nil {
			return events.Failure{}, fmt.Errorf("read failure %s: %w", id, err)
		}
		moved, changed, err := Move(f, to, by, s.Now(), note)
		if err != nil || !changed {
			return f, err
		}
		m := NewMessage(moved, s.Now())
		err = s.Store.Transition(ctx, moved, f.State, m)
		if errors.Is(err, ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return events.Failure{}, fmt.Errorf("move failure %s to %s: %w", id, to, err)
		}
		// The move is stored with its message; if publishing fails here the
		// rules schedule publishes it once the lease lapses, so the caller
		// is told the move succeeded.
		if err := s.Announcer.Send(ctx, m); err != nil {
			s.Announcer.Log.Warn("failure event left for the schedule to publish", "failure_id", id, "type", m.DetailType, "err", err)
		}
		return moved, nil
	}
}
