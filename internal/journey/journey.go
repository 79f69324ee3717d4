// Package journey applies interactions to customer state: it resolves the
// customer behind an event's identity keys and records the interaction and
// its metric counters exactly once.
package journey

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/metric"
)

// Record is everything one interaction changes.
type Record struct {
	CustomerID string
	Keys       []identity.Key
	Event      events.Interaction
	Counters   []metric.Increment
	// ExpiresAt is when the stored interaction may be dropped (retention).
	ExpiresAt time.Time
	Now       time.Time
}

// Store persists customers and interactions.
type Store interface {
	// Resolve returns the customer behind keys, creating one and linking
	// unknown keys to it as needed.
	Resolve(ctx context.Context, keys []identity.Key, now time.Time) (string, error)
	// Apply writes the record atomically unless the event was applied
	// before; applied reports which.
	Apply(ctx context.Context, r Record) (applied bool, err error)
}

// Service applies interactions.
type Service struct {
	Store Store
	// Retention is how long raw interactions are kept; aggregates stay.
	Retention time.Duration
	Now       func() time.Time
	Log       *slog.Logger
}

// Apply records one interaction. Applying the same event again changes nothing.
func (s *Service) Apply(ctx context.Context, ev events.Interaction) error {
	keys := identity.Keys(ev.Channel, ev.Customer)
	if len(keys) == 0 {
		return fmt.Errorf("interaction %s has no usable identity key", ev.ID)
	}
	now := s.Now()
	cid, err := s.Store.Resolve(ctx, keys, now)
	if err != nil {
		return fmt.Errorf("resolve customer of %s: %w", ev.ID, err)
	}
	applied, err := s.Store.Apply(ctx, Record{
		CustomerID: cid, Keys: keys, Event: ev, Counters: metric.For(ev),
		ExpiresAt: ev.OccurredAt.Add(s.Retention), Now: now,
	})
	if err != nil {
		return fmt.Errorf("apply %s to customer %s: %w", ev.ID, cid, err)
	}
	s.Log.Info("interaction applied", "event_id", ev.ID, "customer_id", cid, "type", ev.Type, "channel", ev.Channel, "duplicate", !applied)
	return nil
}
