package rollup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/metric"
)

// Tx is everything one event changes, written atomically: its marker (so
// a redelivery counts nothing), its counter deltas and the records of the
// customer's contacts or the journey instance it advanced.
type Tx struct {
	Key    string
	Now    time.Time
	Deltas []metric.Delta
	// Contacts, when set, replaces the customer's contact record if it is
	// still at Version.
	Contacts *ContactsWrite
	// Instance, when set, replaces the instance record if it is still at
	// Version.
	Instance *InstanceWrite
}

// ContactsWrite is a customer's contact record to store.
type ContactsWrite struct {
	CustomerID string
	Version    int64
	State      metric.Contacts
}

// InstanceWrite is a journey instance's record to store.
type InstanceWrite struct {
	Key     string
	Version int64
	State   metric.Instance
}

// Errors of TallyStore.Commit.
var (
	// ErrDuplicate says the event was counted before.
	ErrDuplicate = errors.New("event already counted")
	// ErrConflict says a record changed since it was read.
	ErrConflict = errors.New("record changed concurrently")
)

// TallyStore is what counting needs.
type TallyStore interface {
	// CustomerOf returns, without writing anything, the customer keys
	// belong to: the owner of the strongest known key, or the id a new
	// customer with keys[0] gets — what the journey function resolves.
	CustomerOf(ctx context.Context, keys []identity.Key) (string, error)
	// Contacts returns a customer's contact record and its version (0
	// when there is none).
	Contacts(ctx context.Context, customerID string) (metric.Contacts, int64, error)
	// Instance returns a journey instance's record and its version.
	Instance(ctx context.Context, key string) (metric.Instance, int64, error)
	// Commit writes tx atomically, or returns ErrDuplicate or ErrConflict.
	Commit(ctx context.Context, tx Tx) error
}

// Tally counts bus events into counters, each event exactly once.
type Tally struct {
	Store TallyStore
	// Attributes are the interaction attributes kept as dimensions.
	Attributes []string
	Now        func() time.Time
	Log        *slog.Logger
}

// attempts bounds retries of a commit that lost a race on a record or a
// counter; after that the event is redelivered by the bus.
const attempts = 8

// Count counts one bus event.
func (t *Tally) Count(ctx context.Context, env events.Envelope) error {
	obs, ok, err := metric.Observe(env.Source, env.DetailType, env.ID, env.Detail, t.Attributes)
	if err != nil {
		return fmt.Errorf("count %s %s: %w", env.DetailType, env.ID, err)
	}
	if !ok {
		return nil
	}
	wait := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		tx, err := t.plan(ctx, obs)
		if err != nil {
			return fmt.Errorf("count %s: %w", obs.Key, err)
		}
		err = t.Store.Commit(ctx, tx)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrDuplicate):
			t.Log.Debug("event counted before", "event", obs.Key)
			return nil
		case errors.Is(err, ErrConflict) && attempt < attempts:
			// Jitter, so two events racing on one record do not collide again.
			time.Sleep(wait/2 + rand.N(wait))
			wait *= 2
		default:
			return fmt.Errorf("count %s: %w", obs.Key, err)
		}
	}
}

// plan reads the records an observation needs and returns its writes.
func (t *Tally) plan(ctx context.Context, o metric.Observation) (Tx, error) {
	tx := Tx{Key: o.Key, Now: t.Now()}
	switch {
	case o.Interaction != nil:
		in := o.Interaction
		tx.Deltas = in.Deltas()
		keys := identity.Keys(in.Channel, in.Customer)
		if !in.Contact || len(keys) == 0 {
			break
		}
		cid, err := t.Store.CustomerOf(ctx, keys)
		if err != nil {
			return tx, fmt.Errorf("resolve customer: %w", err)
		}
		h, v, err := t.Store.Contacts(ctx, cid)
		if err != nil {
			return tx, fmt.Errorf("read contacts of %s: %w", cid, err)
		}
		tx.Deltas = append(tx.Deltas, h.Add(in)...)
		tx.Contacts = &ContactsWrite{CustomerID: cid, Version: v, State: h}
	case o.Journey != nil:
		j := o.Journey
		k := metric.InstanceKey(j.Journey, j.Instance)
		s, v, err := t.Store.Instance(ctx, k)
		if err != nil {
			return tx, fmt.Errorf("read journey instance %s: %w", k, err)
		}
		tx.Deltas = s.Step(j)
		tx.Instance = &InstanceWrite{Key: k, Version: v, State: s}
	case o.Loop != nil:
		tx.Deltas = o.Loop.Deltas()
	case o.Failure != nil:
		f := o.Failure
		tx.Deltas = f.Deltas()
		if f.Journey == "" || f.Instance == "" {
			break
		}
		k := metric.InstanceKey(f.Journey, f.Instance)
		s, v, err := t.Store.Instance(ctx, k)
		if err != nil {
			return tx, fmt.Errorf("read journey instance %s: %w", k, err)
		}
		if d := s.Fail(f); len(d) > 0 {
			tx.Deltas = append(tx.Deltas, d...)
			tx.Instance = &InstanceWrite{Key: k, Version: v, State: s}
		}
	}
	return tx, nil
}
