// Package journey applies interactions to customer state: it resolves the
// customer behind an event's identity keys (merging customers the event
// proves to be one), records the interaction and its metric counters
// exactly once, moves the journey instances the event matches, and
// announces their transitions on the bus.
package journey

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
)

// Errors a Store returns.
var (
	// ErrConflict means something read before the write changed; read
	// again and retry.
	ErrConflict = errors.New("concurrent change")
	// ErrDuplicate means the event was applied meanwhile by another
	// delivery.
	ErrDuplicate = errors.New("event already applied")
)

// PendingMemory is how long an instance that has seen only its ending is
// kept waiting for a late start. Most such endings (a payment that never
// failed succeeding) start nothing, so they must not be kept long.
const PendingMemory = 7 * 24 * time.Hour

// maxAttempts bounds retries after conflicts: each one means another writer
// made progress, so a handful is plenty.
const maxAttempts = 8

// Snapshot is what applying one event needs to read, in one round trip.
type Snapshot struct {
	// Applied is set when the event has a marker: it was erased since
	// (nothing of it is written again), or applied before profiles
	// counted events by digest (see Store.Commit).
	Applied *Applied
	// Owners maps each known key to the customer it points at.
	Owners map[identity.Key]string
	// Instances holds the requested instances that exist.
	Instances map[Ref]*Instance
}

// Applied is what an earlier application of an event left.
type Applied struct {
	CustomerID string
	// Emitted are the journey events it published; a redelivery publishes
	// them again in case the first publication failed.
	Emitted []events.JourneyEvent
}

// Change is everything one interaction writes; see Store.Commit.
type Change struct {
	CustomerID string
	// Keys are the event's identity keys; Own those that point (or will
	// point) at CustomerID.
	Keys []identity.Key
	Own  []identity.Key
	// Link are keys seen for the first time, to point at CustomerID.
	Link []identity.Key
	// Repoint maps keys still pointing at a merged-away customer to it,
	// to be moved to CustomerID.
	Repoint map[identity.Key]string
	Event   events.Interaction
	// ExpiresAt is when the stored interaction may be dropped (retention).
	ExpiresAt time.Time
	Now       time.Time
	// Journeys are the instances the event changed.
	Journeys []*Instance
	// Emitted are the journey events to publish once written.
	Emitted []events.JourneyEvent
}

// Customer is what a merge decision reads about a customer.
type Customer struct {
	ID        string
	Exists    bool
	Version   int64
	FirstSeen time.Time
	// Keys are the identity keys pointing at the customer (for a merged
	// customer: those it had when it was merged).
	Keys       []identity.Key
	MergedInto string
	// Apart are customers an unmerge separated this one from; events
	// joining them do not merge them again.
	Apart []string
	// Counted names the latest events counted on the customer (see
	// Store.Commit): a merge carries them to the survivor, so an event
	// counted before the merge is still recognised after it.
	Counted []string
}

// Merge absorbs one customer into another.
type Merge struct {
	ID       string
	Survivor Customer
	Absorbed Customer
	// CauseEvent carried CauseKeys, which pointed at both customers.
	CauseEvent string
	CauseKeys  []identity.Key
	At         time.Time
}

// Store persists customers, interactions and journey instances.
type Store interface {
	// Load reads the event's marker (left by an erasure, or by an
	// earlier way of committing), its keys' owners and the requested
	// instances.
	Load(ctx context.Context, eventID string, keys []identity.Key, refs []Ref) (Snapshot, error)
	// Commit writes the change so that the event counts as applied
	// exactly when all of it is written; writes an attempt made before
	// failing may stay, and repeating the change over them has the same
	// effect. It returns ErrDuplicate when the event was counted before
	// and ErrConflict when anything it was based on changed (a customer
	// merged away, an instance moved on, a key linked elsewhere).
	Commit(ctx context.Context, c Change) error
	// Customers reads profiles by id.
	Customers(ctx context.Context, ids []string) (map[string]Customer, error)
	// Merge records m atomically: the absorbed customer points at the
	// survivor and its keys resolve to the survivor. It returns
	// ErrConflict when either customer changed since it was read.
	Merge(ctx context.Context, m Merge) error
}

// Refusal is a merge or a link the identity guardrails refused: an event
// whose keys would have joined customers, or given one customer, more keys
// of a kind than its limit.
type Refusal struct {
	// ID is deterministic per event, so a redelivery records it once.
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	CauseEvent string    `json:"cause_event"`
	Channel    string    `json:"channel"`
	// What was refused: "merge" or "link".
	What string `json:"what"`
	// Customers the event would have joined; the event was recorded under
	// the first.
	Customers []string `json:"customers"`
	// Kinds are the key kinds that would have exceeded their limits.
	Kinds []string `json:"kinds"`
}

// Refusals keeps what the guardrails refused, for operators to review.
type Refusals interface {
	Refuse(ctx context.Context, r Refusal) error
}

// Counter counts operational events (an emf.Recorder).
type Counter interface {
	Count(name string, n int, dims map[string]string)
}

// Service applies interactions.
type Service struct {
	Store Store
	// Guard holds the identity guardrails; nil applies none.
	Guard *identity.Guardrails
	// Refusals records refused merges and links; nil only logs them.
	Refusals Refusals
	// Metrics counts refusals and events that name no usable key; nil
	// counts nothing.
	Metrics Counter
	// Journeys are the journey definitions; nil means none.
	Journeys *Catalog
	// Bus receives journey events; nil publishes nothing.
	Bus events.Publisher
	// Retention is how long raw interactions (and ended journeys) are
	// kept; aggregates stay.
	Retention time.Duration
	Now       func() time.Time
	Log       *slog.Logger
}

// Apply records one interaction. Applying the same event again changes
// nothing (its journey events are published again, with the same ids).
func (s *Service) Apply(ctx context.Context, ev events.Interaction) error {
	keys, blocked := s.Guard.Usable(identity.Keys(ev.Channel, ev.Customer))
	if len(keys) == 0 && len(blocked) > 0 {
		// Only values that identify no one in particular (a shared test
		// address, the business's own number): attributing the event to
		// them would join strangers, so it is recorded under no customer.
		s.Log.Warn("interaction names no one: only never-link identity values", "event_id", ev.ID, "channel", ev.Channel, "type", ev.Type)
		s.count("UnattributedItems", map[string]string{"channel": ev.Channel})
		return nil
	}
	if len(keys) == 0 {
		return fmt.Errorf("interaction %s has no usable identity key", ev.ID)
	}
	matches, err := s.Journeys.Match(ev)
	if err != nil {
		return err
	}
	refs := make([]Ref, len(matches))
	for i, m := range matches {
		refs[i] = m.Ref()
	}
	careful := false
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if attempt > 1 {
			// Someone else made progress; let them finish.
			select {
			case <-ctx.Done():
				return fmt.Errorf("apply %s: %w", ev.ID, ctx.Err())
			case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
			}
		}
		snap, err := s.Store.Load(ctx, ev.ID, keys, refs)
		if err != nil {
			return fmt.Errorf("load state for %s: %w", ev.ID, err)
		}
		if snap.Applied != nil {
			s.Log.Info("interaction applied before", "event_id", ev.ID, "customer_id", snap.Applied.CustomerID, "duplicate", true)
			return s.publish(ctx, snap.Applied.Emitted)
		}
		used, err := s.guardKeys(ctx, ev, keys, snap)
		if err != nil {
			return err
		}
		res, err := s.resolve(ctx, ev, used, snap, careful)
		if errors.Is(err, ErrConflict) {
			careful = true
			continue
		}
		if err != nil {
			return err
		}
		if res.merged {
			// Keys moved: read them again.
			continue
		}
		ch := s.change(ev, used, res, snap, matches)
		err = s.Store.Commit(ctx, ch)
		switch {
		case errors.Is(err, ErrDuplicate):
			// Counted before: by a concurrent delivery, or by an attempt
			// that may have stopped before publishing. The instances
			// already hold the event, so the change announces again what
			// it did, under the same ids.
			s.Log.Info("interaction applied before", "event_id", ev.ID, "customer_id", res.customer, "duplicate", true)
			return s.publish(ctx, ch.Emitted)
		case errors.Is(err, ErrConflict):
			careful = true
			continue
		case err != nil:
			return fmt.Errorf("apply %s to customer %s: %w", ev.ID, res.customer, err)
		}
		s.Log.Info("interaction applied", "event_id", ev.ID, "customer_id", res.customer, "type", ev.Type,
			"channel", ev.Channel, "journeys", len(ch.Journeys), "journey_events", len(ch.Emitted), "attempt", attempt)
		return s.publish(ctx, ch.Emitted)
	}
	return fmt.Errorf("apply %s: still conflicting after %d attempts", ev.ID, maxAttempts)
}

// resolution is the customer an event belongs to and how its keys get there.
type resolution struct {
	customer string
	// eff maps each known key to its live customer.
	eff     map[identity.Key]string
	repoint map[identity.Key]string
	merged  bool
}

// resolve finds the one customer the keys belong to, merging the customers
// they join. careful follows merge pointers, which only a conflict (a key
// still pointing at a merged-away customer) makes necessary.
func (s *Service) resolve(ctx context.Context, ev events.Interaction, keys []identity.Key, snap Snapshot, careful bool) (resolution, error) {
	res := resolution{eff: map[identity.Key]string{}, repoint: map[identity.Key]string{}}
	var owners []string
	for _, k := range keys {
		if o, ok := snap.Owners[k]; ok && !contains(owners, o) {
			owners = append(owners, o)
		}
	}
	var custs map[string]Customer
	if careful || len(owners) > 1 {
		var err error
		if custs, err = s.live(ctx, owners); err != nil {
			return res, err
		}
	}
	var distinct []string
	for _, k := range keys {
		o, ok := snap.Owners[k]
		if !ok {
			continue
		}
		e := o
		if custs != nil {
			e = custs[o].ID
		}
		if e != o {
			res.repoint[k] = o
		}
		res.eff[k] = e
		if !contains(distinct, e) {
			distinct = append(distinct, e)
		}
	}
	switch len(distinct) {
	case 0:
		res.customer = CustomerIDFor(keys[0])
		return res, nil
	case 1:
		res.customer = distinct[0]
		return res, nil
	}
	survivor := distinct[0]
	for _, id := range distinct[1:] {
		a, b := custs[id], custs[survivor]
		if a.FirstSeen.Before(b.FirstSeen) || (a.FirstSeen.Equal(b.FirstSeen) && id < survivor) {
			survivor = id
		}
	}
	for _, id := range distinct {
		if id == survivor || contains(custs[survivor].Apart, id) {
			continue
		}
		m := Merge{
			ID: mergeID(ev.ID, survivor, id), Survivor: custs[survivor], Absorbed: custs[id],
			CauseEvent: ev.ID, CauseKeys: keys, At: s.Now().UTC(),
		}
		if err := s.Store.Merge(ctx, m); err != nil {
			if errors.Is(err, ErrConflict) {
				return res, err
			}
			return res, fmt.Errorf("merge %s into %s (cause %s): %w", id, survivor, ev.ID, err)
		}
		s.Log.Info("customers merged", "merge_id", m.ID, "survivor", survivor, "absorbed", id, "event_id", ev.ID)
		res.merged = true
	}
	if !res.merged {
		// Every pair was separated by an unmerge: the event belongs to the
		// customer of its strongest key, and the others keep theirs.
		res.customer = distinct[0]
	}
	return res, nil
}

// guardKeys returns the keys the event may link and resolve by. When the
// customers its keys point at, joined with its new keys, would hold more
// keys of a kind than the guardrails allow, the weakest key taking part
// (one pointing at a customer, or of a kind over its limit) is dropped
// until the rest fit, as mature identity graphs drop their lowest-priority
// identifier: a household's shared phone then links neither person to the
// other. The refusal is recorded. Only events that join customers or bring
// a new key of a limited kind to one cost the extra read.
func (s *Service) guardKeys(ctx context.Context, ev events.Interaction, keys []identity.Key, snap Snapshot) ([]identity.Key, error) {
	var owners []string
	fresh := false
	for _, k := range keys {
		o, ok := snap.Owners[k]
		switch {
		case ok && !contains(owners, o):
			owners = append(owners, o)
		case !ok && s.Guard.Limit(k.Kind()) > 0:
			fresh = true
		}
	}
	if len(owners) == 0 || len(owners) == 1 && !fresh {
		return keys, nil
	}
	custs, err := s.live(ctx, owners)
	if err != nil {
		return nil, err
	}
	used := append([]identity.Key(nil), keys...)
	var over, joined []string
	for {
		var ids []string
		for _, k := range used {
			if o, ok := snap.Owners[k]; ok && !contains(ids, custs[o].ID) {
				ids = append(ids, custs[o].ID)
			}
		}
		now := s.breaks(used, ids, custs)
		if len(now) == 0 {
			break
		}
		if over == nil {
			over, joined = now, ids
		}
		drop := -1
		for i := len(used) - 1; i > 0 && drop < 0; i-- {
			if _, owned := snap.Owners[used[i]]; owned || slices.Contains(now, used[i].Kind()) {
				drop = i
			}
		}
		if drop < 0 {
			break
		}
		used = slices.Delete(used, drop, drop+1)
	}
	if over == nil {
		return keys, nil
	}
	what := "link"
	if len(joined) > 1 {
		what = "merge"
	}
	sort.Strings(over)
	return used, s.refuse(ctx, ev, what, joined, over)
}

// breaks returns the key kinds over their limits once keys join the
// customers ids. A customer already over a limit (the limit was lowered
// since) is not made worse by its own keys: only a kind the joining adds
// to counts.
func (s *Service) breaks(keys []identity.Key, ids []string, custs map[string]Customer) []string {
	all := union(keys, keysOf(ids, custs))
	var out []string
	for _, kind := range s.Guard.Over(all) {
		base := 0
		for _, id := range ids {
			base = max(base, count(custs[id].Keys, kind))
		}
		if count(all, kind) > base {
			out = append(out, kind)
		}
	}
	return out
}

func count(keys []identity.Key, kind string) int {
	n := 0
	for _, k := range keys {
		if k.Kind() == kind {
			n++
		}
	}
	return n
}

func keysOf(ids []string, custs map[string]Customer) []identity.Key {
	var out []identity.Key
	for _, id := range ids {
		out = append(out, custs[id].Keys...)
	}
	return out
}

// refuse records, counts and logs a refused merge or link; the event is
// still recorded, under the customer of its strongest key.
func (s *Service) refuse(ctx context.Context, ev events.Interaction, what string, customers, kinds []string) error {
	r := Refusal{ID: refusalID(ev.ID), At: s.Now().UTC(), CauseEvent: ev.ID, Channel: ev.Channel, What: what, Customers: customers, Kinds: kinds}
	s.Log.Warn("identity guardrail refused a "+what, "event_id", ev.ID, "channel", ev.Channel, "customers", customers, "kinds", kinds)
	s.count("RefusedMerges", map[string]string{"reason": what})
	if s.Refusals == nil {
		return nil
	}
	if err := s.Refusals.Refuse(ctx, r); err != nil {
		return fmt.Errorf("record refused %s of %v (cause %s): %w", what, customers, ev.ID, err)
	}
	return nil
}

func (s *Service) count(name string, dims map[string]string) {
	if s.Metrics != nil {
		s.Metrics.Count(name, 1, dims)
	}
}

func refusalID(eventID string) string {
	sum := sha256.Sum256([]byte("refusal\x00" + eventID))
	return "ref_" + hex.EncodeToString(sum[:12])
}

// live reads the owners' profiles, following merge pointers to the
// customers they live on in. The result maps every id read to its live
// customer.
func (s *Service) live(ctx context.Context, ids []string) (map[string]Customer, error) {
	out := map[string]Customer{}
	pending := ids
	for depth := 0; len(pending) > 0; depth++ {
		if depth > 16 {
			return nil, fmt.Errorf("merge pointers of %v do not end", ids)
		}
		got, err := s.Store.Customers(ctx, pending)
		if err != nil {
			return nil, fmt.Errorf("read customers %v: %w", pending, err)
		}
		var next []string
		for _, id := range pending {
			c := got[id]
			c.ID = id
			out[id] = c
			if c.MergedInto != "" {
				if _, seen := out[c.MergedInto]; !seen && !contains(next, c.MergedInto) {
					next = append(next, c.MergedInto)
				}
			}
		}
		pending = next
	}
	final := map[string]Customer{}
	for id := range out {
		c := out[id]
		for hops := 0; c.MergedInto != "" && hops < 16; hops++ {
			c = out[c.MergedInto]
		}
		final[id] = c
	}
	return final, nil
}

// change builds the write for an event resolved to res.customer.
func (s *Service) change(ev events.Interaction, keys []identity.Key, res resolution, snap Snapshot, matches []Match) Change {
	now := s.Now().UTC()
	cid := res.customer
	ch := Change{
		CustomerID: cid, Keys: keys, Event: ev,
		ExpiresAt: ev.OccurredAt.Add(s.Retention), Now: now, Repoint: map[identity.Key]string{},
	}
	for _, k := range keys {
		e, known := res.eff[k]
		switch {
		case !known:
			ch.Link = append(ch.Link, k)
			ch.Own = append(ch.Own, k)
		case e == cid:
			ch.Own = append(ch.Own, k)
			if o, stale := res.repoint[k]; stale {
				ch.Repoint[k] = o
			}
		}
	}
	for _, m := range matches {
		in := snap.Instances[m.Ref()]
		if in == nil {
			in = &Instance{Journey: m.Def.ID, Instance: m.Instance, CustomerID: cid}
		} else {
			cp := *in
			in = &cp
		}
		if in.has(ev.ID) {
			// An attempt that did not finish (the event's marker is
			// missing) wrote the instance already: announce again what the
			// event changed in it, under the same ids, in case that attempt
			// never published.
			for _, e := range Transitions(m.Def, m.Instance, Fold(m.Def, without(in.Steps, ev.ID)), Fold(m.Def, in.Steps)) {
				e.CustomerID, e.Customer = cid, ev.Customer
				ch.Emitted = append(ch.Emitted, e)
			}
			continue
		}
		if len(in.Steps) >= MaxSteps {
			s.Log.Warn("journey instance has too many steps; event not applied to it", "journey", in.Journey, "event_id", ev.ID, "steps", len(in.Steps))
			continue
		}
		before := Fold(m.Def, in.Steps)
		in.Steps = append(append([]Step(nil), in.Steps...), m.Step)
		in.State = Fold(m.Def, in.Steps)
		in.Keys = union(in.Keys, keys)
		in.UpdatedAt = now
		switch {
		case in.State.Outcome == OutcomePending:
			in.ExpiresAt = now.Add(PendingMemory)
		case in.State.EndedAt != nil:
			in.ExpiresAt = in.State.EndedAt.Add(s.Retention)
		default:
			in.ExpiresAt = time.Time{}
		}
		for _, e := range Transitions(m.Def, m.Instance, before, in.State) {
			e.CustomerID, e.Customer = cid, ev.Customer
			ch.Emitted = append(ch.Emitted, e)
		}
		ch.Journeys = append(ch.Journeys, in)
	}
	return ch
}

func (s *Service) publish(ctx context.Context, evs []events.JourneyEvent) error {
	if s.Bus == nil || len(evs) == 0 {
		return nil
	}
	out := make([]events.Event, len(evs))
	for i, e := range evs {
		out[i] = events.Event{Source: events.SourceJourney, DetailType: e.Type, Detail: e, Time: e.OccurredAt}
	}
	if err := s.Bus.Publish(ctx, out...); err != nil {
		// The event stays applied; its redelivery publishes these again.
		return fmt.Errorf("publish %d journey events: %w", len(out), err)
	}
	return nil
}

// CustomerIDFor derives a new customer's id from its strongest key, so two
// racing first events for one person create the same customer.
func CustomerIDFor(k identity.Key) string { return identity.CustomerIDFor(k) }

// mergeID is deterministic so a retried merge is the same merge.
func mergeID(eventID, survivor, absorbed string) string {
	sum := sha256.Sum256([]byte(eventID + "\x00" + survivor + "\x00" + absorbed))
	return "mrg_" + hex.EncodeToString(sum[:12])
}

// without is steps less the one eventID made.
func without(steps []Step, eventID string) []Step {
	out := make([]Step, 0, len(steps))
	for _, st := range steps {
		if st.EventID != eventID {
			out = append(out, st)
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}

func union(a, b []identity.Key) []identity.Key {
	seen := make(map[identity.Key]bool, len(a)+len(b))
	var out []identity.Key
	for _, k := range append(append([]identity.Key(nil), a...), b...) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
