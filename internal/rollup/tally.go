package rollup

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/metric"
)

// Tx is what a batch of events changes, written atomically: one marker
// per event (so a redelivery counts nothing) unless the record it changes
// is its marker, their counter deltas merged so each counter is written
// once, and the final records of the customers' contacts and the journey
// instances they advanced.
type Tx struct {
	// Keys are the markers of the counted events that need one: a journey
	// event's is its instance's record (see foldable).
	Keys   []string
	Now    time.Time
	Deltas []metric.Delta
	// Contacts replace customers' contact records still at their Version.
	Contacts []ContactsWrite
	// Instances replace instance records still at their Version.
	Instances []InstanceWrite
}

// MaxTxItems is DynamoDB's limit of writes in one transaction: markers,
// merged counters and records together.
const MaxTxItems = 100

// items is how many writes tx takes.
func (tx Tx) items() int {
	return len(tx.Keys) + len(metric.Merge(tx.Deltas)) + len(tx.Contacts) + len(tx.Instances)
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
	// ErrDuplicate says an event was counted before (see DuplicateError).
	ErrDuplicate = errors.New("event already counted")
	// ErrConflict says a record changed since it was read.
	ErrConflict = errors.New("record changed concurrently")
)

// DuplicateError names the events of a transaction counted before; the
// transaction wrote nothing.
type DuplicateError struct{ Keys []string }

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%d event(s) already counted: %v", len(e.Keys), e.Keys)
}

// Is makes errors.Is(err, ErrDuplicate) hold.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

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
	// Commit writes tx atomically, or returns a *DuplicateError or
	// ErrConflict and writes nothing.
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
// counter; after that the events are delivered again by their queue.
const attempts = 8

// Count counts one bus event.
func (t *Tally) Count(ctx context.Context, env events.Envelope) error {
	return t.CountBatch(ctx, []events.Envelope{env})[0]
}

// CountBatch counts a batch of bus events, each exactly once, and returns
// one error per envelope (nil when it was counted, or counted before, or
// is not counted at all). Events are planned in order on the batch's own
// view of the records they touch, so two events of one customer in a
// batch chain as they would one after the other; their deltas are merged,
// so a counter many events touch is written once per transaction. A
// transaction holds as many events as fit DynamoDB's limit; an event that
// cannot be read, or whose records cannot be, fails alone.
func (t *Tally) CountBatch(ctx context.Context, envs []events.Envelope) []error {
	errs := make([]error, len(envs))
	var todo []pending
	for i, env := range envs {
		obs, ok, err := metric.Observe(env.Source, env.DetailType, env.ID, env.Detail, t.Attributes)
		switch {
		case err != nil:
			errs[i] = fmt.Errorf("count %s %s: %w", env.DetailType, env.ID, err)
		case ok:
			todo = append(todo, pending{i: i, obs: obs})
		}
	}
	for len(todo) > 0 {
		n, err := t.commitChunk(ctx, todo)
		for _, p := range todo[:n] {
			errs[p.i] = err
		}
		todo = todo[n:]
	}
	return errs
}

// pending is an event of the batch to count, by its place in the batch.
type pending struct {
	i   int
	obs metric.Observation
}

// commitChunk counts the longest prefix of todo one transaction holds,
// retrying when a record moved, and returns its length and outcome.
func (t *Tally) commitChunk(ctx context.Context, todo []pending) (int, error) {
	counted := map[string]bool{}
	wait := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		tx, n, err := t.planChunk(ctx, todo, counted)
		if n == 0 {
			return 1, fmt.Errorf("count %s: %w", todo[0].obs.Key, err)
		}
		if tx.items() == 0 {
			return n, nil
		}
		err = t.Store.Commit(ctx, tx)
		var dup *DuplicateError
		switch {
		case err == nil:
			return n, nil
		case errors.As(err, &dup):
			// Counted before (a redelivery): plan the rest without them.
			for _, k := range dup.Keys {
				t.Log.Debug("event counted before", "event", k)
				counted[k] = true
			}
			attempt--
		case errors.Is(err, ErrConflict) && attempt < attempts:
			// Jitter, so two batches racing on one record do not collide again.
			time.Sleep(wait/2 + rand.N(wait))
			wait *= 2
		default:
			return n, fmt.Errorf("count %d event(s) from %s: %w", n, todo[0].obs.Key, err)
		}
	}
}

// chunk is a transaction being planned, with its view of the records.
type chunk struct {
	tx        Tx
	contacts  map[string]int // customer id -> index in tx.Contacts
	instances map[string]int // instance key -> index in tx.Instances
}

// planChunk plans events of todo in order until the next would not fit one
// transaction, skipping those counted before. It returns the transaction
// and how many events of todo it covers; when an event cannot be planned,
// the chunk ends before it (n = 0 when it is the first) with its error.
func (t *Tally) planChunk(ctx context.Context, todo []pending, counted map[string]bool) (Tx, int, error) {
	ch := &chunk{tx: Tx{Now: t.Now()}, contacts: map[string]int{}, instances: map[string]int{}}
	for n, p := range todo {
		if counted[p.obs.Key] || slices.Contains(ch.tx.Keys, p.obs.Key) {
			// Counted before, or the same event twice in the batch (a
			// redelivery): the chunk's marker stands for both.
			continue
		}
		next, err := t.plan(ctx, ch, p.obs)
		if err != nil {
			return ch.tx, n, err
		}
		if next.tx.items() > MaxTxItems {
			if n == 0 {
				return ch.tx, 0, fmt.Errorf("event %s needs %d writes, over DynamoDB's %d per transaction", p.obs.Key, next.tx.items(), MaxTxItems)
			}
			return ch.tx, n, nil
		}
		ch = next
	}
	return ch.tx, len(todo), nil
}

// plan returns the chunk with one more event: its marker, deltas and the
// records it changes, read from the store the first time the chunk needs
// them. ch itself is left as it was.
func (t *Tally) plan(ctx context.Context, ch *chunk, o metric.Observation) (*chunk, error) {
	next := ch.clone()
	next.tx.Keys = append(next.tx.Keys, o.Key)
	switch {
	case o.Interaction != nil:
		in := o.Interaction
		next.tx.Deltas = append(next.tx.Deltas, in.Deltas()...)
		keys := identity.Keys(in.Channel, in.Customer)
		if !in.Contact || len(keys) == 0 {
			break
		}
		cid, err := t.Store.CustomerOf(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("resolve customer: %w", err)
		}
		w, err := next.contactsOf(ctx, t.Store, cid)
		if err != nil {
			return nil, err
		}
		next.tx.Deltas = append(next.tx.Deltas, w.State.Add(in)...)
	case o.Journey != nil:
		j := o.Journey
		k := metric.InstanceKey(j.Journey, j.Instance)
		_, known := next.instances[k]
		w, err := next.instanceOf(ctx, t.Store, k)
		if err != nil {
			return nil, err
		}
		d := digest(o.Key)
		if slices.Contains(w.State.Counted, d) {
			// Counted before, into this record: nothing to write for it.
			next.tx.Keys = next.tx.Keys[:len(next.tx.Keys)-1]
			if !known {
				next.dropInstance(k)
			}
			break
		}
		if w.State.Folds && len(w.State.Counted) < maxFolded {
			// The record is written anyway: it is the marker, so the
			// event costs no marker item (two write units) of its own.
			w.State.Counted = append(w.State.Counted, d)
			next.tx.Keys = next.tx.Keys[:len(next.tx.Keys)-1]
		}
		next.tx.Deltas = append(next.tx.Deltas, w.State.Step(j)...)
	case o.Loop != nil:
		next.tx.Deltas = append(next.tx.Deltas, o.Loop.Deltas()...)
	case o.Failure != nil:
		f := o.Failure
		next.tx.Deltas = append(next.tx.Deltas, f.Deltas()...)
		if f.Journey == "" || f.Instance == "" {
			break
		}
		k := metric.InstanceKey(f.Journey, f.Instance)
		_, known := next.instances[k]
		w, err := next.instanceOf(ctx, t.Store, k)
		if err != nil {
			return nil, err
		}
		if d := w.State.Fail(f); len(d) > 0 {
			next.tx.Deltas = append(next.tx.Deltas, d...)
		} else if !known {
			// Nothing changed: no write of the record for it.
			next.dropInstance(k)
		}
	}
	return next, nil
}

// clone copies the chunk deeply enough that planning on the copy leaves
// the original as it was (records' states are copied through JSON).
func (ch *chunk) clone() *chunk {
	next := &chunk{tx: ch.tx, contacts: maps.Clone(ch.contacts), instances: maps.Clone(ch.instances)}
	next.tx.Keys = slices.Clone(ch.tx.Keys)
	next.tx.Deltas = slices.Clone(ch.tx.Deltas)
	next.tx.Contacts = slices.Clone(ch.tx.Contacts)
	next.tx.Instances = slices.Clone(ch.tx.Instances)
	return next
}

// contactsOf is the chunk's contact record of cid, to change in place.
func (ch *chunk) contactsOf(ctx context.Context, s TallyStore, cid string) (*ContactsWrite, error) {
	if i, ok := ch.contacts[cid]; ok {
		ch.tx.Contacts[i].State = metric.Contacts{List: slices.Clone(ch.tx.Contacts[i].State.List)}
		return &ch.tx.Contacts[i], nil
	}
	h, v, err := s.Contacts(ctx, cid)
	if err != nil {
		return nil, fmt.Errorf("read contacts of %s: %w", cid, err)
	}
	ch.contacts[cid] = len(ch.tx.Contacts)
	ch.tx.Contacts = append(ch.tx.Contacts, ContactsWrite{CustomerID: cid, Version: v, State: h})
	return &ch.tx.Contacts[len(ch.tx.Contacts)-1], nil
}

// instanceOf is the chunk's record of instance k, to change in place.
func (ch *chunk) instanceOf(ctx context.Context, s TallyStore, k string) (*InstanceWrite, error) {
	if i, ok := ch.instances[k]; ok {
		ch.tx.Instances[i].State = cloneInstance(ch.tx.Instances[i].State)
		return &ch.tx.Instances[i], nil
	}
	st, v, err := s.Instance(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("read journey instance %s: %w", k, err)
	}
	if v == 0 {
		// No event of the instance was counted yet: its record can be the
		// marker of every one that is.
		st.Folds = true
	}
	ch.instances[k] = len(ch.tx.Instances)
	ch.tx.Instances = append(ch.tx.Instances, InstanceWrite{Key: k, Version: v, State: st})
	return &ch.tx.Instances[len(ch.tx.Instances)-1], nil
}

// dropInstance forgets a record the chunk read but does not change; it is
// the last one added.
func (ch *chunk) dropInstance(k string) {
	ch.tx.Instances = ch.tx.Instances[:ch.instances[k]]
	delete(ch.instances, k)
}

// maxFolded bounds the digests an instance record keeps, so it stays well
// under a write unit's KB; later events of a long instance get markers.
const maxFolded = 16

// digest is a short, collision-safe-enough name of a counted event for an
// instance record: 64 bits among at most maxFolded events of one instance.
func digest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

func cloneInstance(s metric.Instance) metric.Instance {
	s.Counted = slices.Clone(s.Counted)
	s.Reached = slices.Clone(s.Reached)
	s.Entered = maps.Clone(s.Entered)
	s.Exited = maps.Clone(s.Exited)
	return s
}
