package capacity_test

import (
	"context"
	"hash/fnv"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/labels"
	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/rollup"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/silence"
)

// writes counts writes per stored item (table, pk, sk) and remembers which
// customers' events wrote each, which tells an item shared by everyone (its
// rate grows with traffic) from one customer's (its rate does not).
type writes struct {
	mu sync.Mutex
	// who is the customer of the event being processed ("" for none).
	who   string
	items map[item]*tally
}

type item struct{ table, pk, sk string }

type tally struct {
	n      int
	owners map[string]bool
}

func newWrites() *writes {
	return &writes{items: map[item]*tally{}}
}

func (w *writes) add(table, pk, sk string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := item{table, pk, sk}
	t := w.items[k]
	if t == nil {
		t = &tally{owners: map[string]bool{}}
		w.items[k] = t
	}
	t.n++
	t.owners[w.who] = true
}

// counting journey.Store: the items journeystore's commit writes.
type journeyStore struct {
	w       *writes
	mu      sync.Mutex
	owners  map[identity.Key]string
	applied map[string]bool
	insts   map[journey.Ref]journey.Instance
}

func (m *journeyStore) Load(_ context.Context, eventID string, keys []identity.Key, refs []journey.Ref) (journey.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	snap := journey.Snapshot{Owners: map[identity.Key]string{}, Instances: map[journey.Ref]*journey.Instance{}}
	if m.applied[eventID] {
		snap.Applied = &journey.Applied{}
	}
	for _, k := range keys {
		if o, ok := m.owners[k]; ok {
			snap.Owners[k] = o
		}
	}
	for _, r := range refs {
		if in, ok := m.insts[r]; ok {
			snap.Instances[r] = &in
		}
	}
	return snap, nil
}

func (m *journeyStore) Commit(_ context.Context, c journey.Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.applied[c.Event.ID] {
		return journey.ErrDuplicate
	}
	for _, in := range c.Journeys {
		if m.insts[in.Ref()].Version != in.Version {
			return journey.ErrConflict
		}
	}
	m.applied[c.Event.ID] = true
	const t = "customers"
	m.w.add(t, "customer#"+c.CustomerID, "interaction#"+c.Event.OccurredAt.UTC().Format(time.RFC3339Nano)+"#"+c.Event.ID)
	m.w.add(t, "customer#"+c.CustomerID, "profile")
	for _, k := range c.Link {
		m.owners[k] = c.CustomerID
		m.w.add(t, "identity#"+string(k), "identity")
	}
	for k := range c.Repoint {
		m.owners[k] = c.CustomerID
		m.w.add(t, "identity#"+string(k), "identity")
	}
	for _, in := range c.Journeys {
		r := in.Ref()
		m.w.add(t, "journey#"+r.Journey+"#"+r.Instance, "journey")
		if in.Version == 0 || in.StoredOutcome != in.State.Outcome {
			m.w.add(t, "customer#"+c.CustomerID, "journey#"+r.Journey+"#"+r.Instance)
		}
		cp := *in
		cp.Version++
		cp.StoredOutcome = cp.State.Outcome
		m.insts[r] = cp
	}
	return nil
}

func (m *journeyStore) Customers(context.Context, []string) (map[string]journey.Customer, error) {
	return map[string]journey.Customer{}, nil
}

func (m *journeyStore) Merge(context.Context, journey.Merge) error { return nil }

// counting rules.Store over the package's own memory store.
type ruleStore struct {
	*rules.MemoryStore
	w *writes
}

func (s ruleStore) Commit(ctx context.Context, c rules.Commit) error {
	if err := s.MemoryStore.Commit(ctx, c); err != nil {
		return err
	}
	for _, k := range c.States {
		s.w.add("rules", "state#"+k.Rule+"#"+k.Key, "state")
	}
	for _, f := range c.Failures {
		s.w.add("failures", "failure#"+f.ID, "failure")
	}
	for _, m := range c.Messages {
		s.w.add("failures", "outbox#"+m.ID, "outbox")
	}
	for _, r := range c.Repeats {
		s.w.add("failures", "failure#"+r.Failure, "failure")
	}
	return nil
}

func (s ruleStore) Count(ctx context.Context, t rules.Tally, event string) error {
	if err := s.MemoryStore.Count(ctx, t, event); err != nil {
		return err
	}
	// The event's marker and its shard of the minute, in one transaction
	// (rulestore: tallyShards shards by the event id's hash).
	h := fnv.New32a()
	_, _ = h.Write([]byte(event))
	s.w.add("rules", "tallied#"+t.Rule+"#"+event, "tallied")
	s.w.add("rules", "tally#"+t.Rule+"#"+t.Key+"#"+strconv.Itoa(int(h.Sum32()%tallyShards)), t.Minute.UTC().Format(time.RFC3339))
	return nil
}

// tallyShards is rulestore's number of shards of a rate tally's minute.
const tallyShards = 8

// counting rollup.TallyStore over the package's own memory store.
type rollupStore struct {
	*rollup.MemoryStore
	w *writes
}

func (s rollupStore) Commit(ctx context.Context, tx rollup.Tx) error {
	if err := s.MemoryStore.Commit(ctx, tx); err != nil {
		return err
	}
	for _, k := range tx.Keys {
		s.w.add("customers", "tally#event#"+k, "tally")
	}
	for _, d := range metric.Merge(tx.Deltas) {
		s.w.add("metrics", "counter#"+d.Family+"#"+d.Start.UTC().Format(time.RFC3339), "d#"+d.Dims)
	}
	for _, c := range tx.Contacts {
		s.w.add("customers", "tally#contacts#"+c.CustomerID, "tally")
	}
	for _, i := range tx.Instances {
		s.w.add("customers", "tally#journey#"+i.Key, "tally")
	}
	return nil
}

// counting ingest ledger: a read and one write (the completion) per
// delivery.
type ledger struct {
	w     *writes
	mu    sync.Mutex
	state map[string]string
	ids   map[string][]string
	topic map[string]string
}

func (l *ledger) Seen(_ context.Context, ch, d string) (ingest.Seen, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state[ch+d] == "done" {
		return ingest.Seen{Done: true, EventIDs: l.ids[ch+d], Topic: l.topic[ch+d]}, nil
	}
	return ingest.Seen{}, nil
}

func (l *ledger) Complete(_ context.Context, ch, d string, ids []string, topic string, _ time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state[ch+d], l.ids[ch+d], l.topic[ch+d] = "done", ids, topic
	l.w.add("intake", "delivery#"+ch+"#"+d, "delivery")
	return nil
}

// counting ingest.TallyStore: the minute item (ADD) and the channel's last
// delivery (conditional update), as intakestore writes them.
type tallyStore struct{ w *writes }

func (s tallyStore) Add(_ context.Context, t events.IntakeTally) error {
	s.w.add("intake", "intake#"+t.Channel, "minute#"+t.OccurredAt.UTC().Format("2006-01-02T15:04Z"))
	s.w.add("intake", "intake#"+t.Channel, "last")
	return nil
}

// counting notify.GroupStore: members and group state under ngroup#<key>.
type groupStore struct {
	w       *writes
	mu      sync.Mutex
	groups  map[string]notify.Group
	members map[string][]notify.Member
}

func (m *groupStore) AddMember(_ context.Context, key string, f events.Failure, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.members[key] {
		if x.Failure.ID == f.ID {
			return false, nil
		}
	}
	m.members[key] = append(m.members[key], notify.Member{Failure: f, AddedAt: at})
	m.w.add("failures", "ngroup#"+key, "member#"+f.ID)
	return true, nil
}

func (m *groupStore) UpdateMember(_ context.Context, key string, f events.Failure) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, x := range m.members[key] {
		if x.Failure.ID == f.ID {
			m.members[key][i].Failure = f
			m.w.add("failures", "ngroup#"+key, "member#"+f.ID)
			return true, nil
		}
	}
	return false, nil
}

func (m *groupStore) Group(_ context.Context, key string) (notify.Group, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.groups[key]
	return g, ok, nil
}

func (m *groupStore) GroupMembers(_ context.Context, key string) ([]notify.Member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]notify.Member(nil), m.members[key]...), nil
}

func (m *groupStore) SaveGroup(_ context.Context, g notify.Group) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.groups[g.Key].Version != g.Version {
		return notify.ErrConflict
	}
	g.Version++
	m.groups[g.Key] = g
	m.w.add("failures", "ngroup#"+g.Key, "group")
	return nil
}

func (m *groupStore) Due(_ context.Context, now time.Time) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k, g := range m.groups {
		if !g.Due.IsZero() && !g.Due.After(now) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (m *groupStore) PutSource(_ context.Context, f events.Failure) error {
	m.w.add("failures", "ninhibit", f.ID)
	return nil
}

func (m *groupStore) DeleteSource(_ context.Context, id string) error {
	m.w.add("failures", "ninhibit", id)
	return nil
}

func (m *groupStore) Sources(context.Context) (map[string]labels.Set, error) { return nil, nil }

type noSilences struct{}

func (noSilences) List(context.Context) ([]silence.Silence, error) { return nil, nil }

// notification ledger: one claim and one mark per delivery and receiver.
type sendLedger struct{ w *writes }

func (l sendLedger) Claim(_ context.Context, d, r string, _, _ time.Time) (notify.Claim, error) {
	l.w.add("failures", "notification#"+d, r)
	return notify.Granted, nil
}

func (l sendLedger) MarkSent(_ context.Context, d, r string, _ time.Time) error {
	l.w.add("failures", "notification#"+d, r)
	return nil
}

func (l sendLedger) Release(_ context.Context, d, r string, _ time.Time) error {
	l.w.add("failures", "notification#"+d, r)
	return nil
}

// sink is a receiver that always succeeds.
type sink struct{ sent int }

func (s *sink) Name() string { return "slack" }

func (s *sink) Notify(context.Context, notify.Notification) (bool, error) {
	s.sent++
	return false, nil
}

type dead struct{}

func (dead) SendJSON(context.Context, any) error { return nil }

type noMetrics struct{}

func (noMetrics) Count(string, int, map[string]string) {}
