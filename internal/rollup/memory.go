package rollup

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/metric"
)

// MemoryStore keeps counters, cubes and records in memory with the same
// semantics as the DynamoDB store: for tests and for computing figures
// independently of it.
type MemoryStore struct {
	mu       sync.Mutex
	counters map[counterKey]*memCounter
	cubes    map[cubeID]Cube
	counted  map[string]bool
	contacts map[string]versioned[metric.Contacts]
	insts    map[string]versioned[metric.Instance]
	// Owners maps identity keys to customers, as the journey function
	// links them; unknown keys resolve to "cus:" + the strongest key.
	Owners map[identity.Key]string
	// Reads counts counter and cube reads, to show a run reads what
	// changed, not what is stored.
	Reads int
}

type counterKey struct {
	family, dims string
	start        int64
}

type memCounter struct {
	c     Counter
	dirty bool
}

type cubeID struct {
	family, gran string
	start        int64
}

type versioned[T any] struct {
	v T
	n int64
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		counters: map[counterKey]*memCounter{}, cubes: map[cubeID]Cube{}, counted: map[string]bool{},
		contacts: map[string]versioned[metric.Contacts]{}, insts: map[string]versioned[metric.Instance]{},
		Owners: map[identity.Key]string{},
	}
}

// CustomerOf implements TallyStore.
func (m *MemoryStore) CustomerOf(_ context.Context, keys []identity.Key) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if c, ok := m.Owners[k]; ok {
			return c, nil
		}
	}
	return "cus:" + string(keys[0]), nil
}

// Contacts implements TallyStore.
func (m *MemoryStore) Contacts(_ context.Context, cid string) (metric.Contacts, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.contacts[cid]
	return metric.Contacts{List: append([]metric.Contact(nil), r.v.List...)}, r.n, nil
}

// Instance implements TallyStore.
func (m *MemoryStore) Instance(_ context.Context, key string) (metric.Instance, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.insts[key]
	s := r.v
	s.Reached = append([]string(nil), s.Reached...)
	s.Counted = append([]string(nil), s.Counted...)
	s.Entered = copyTimes(s.Entered)
	s.Exited = copyTimes(s.Exited)
	return s, r.n, nil
}

func copyTimes(m map[string]time.Time) map[string]time.Time {
	if m == nil {
		return nil
	}
	out := make(map[string]time.Time, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Commit implements TallyStore.
func (m *MemoryStore) Commit(_ context.Context, tx Tx) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var dup []string
	for _, k := range tx.Keys {
		if m.counted[k] {
			dup = append(dup, k)
		}
	}
	if len(dup) > 0 {
		return &DuplicateError{Keys: dup}
	}
	for _, w := range tx.Contacts {
		if m.contacts[w.CustomerID].n != w.Version {
			return ErrConflict
		}
	}
	for _, w := range tx.Instances {
		if m.insts[w.Key].n != w.Version {
			return ErrConflict
		}
	}
	for _, k := range tx.Keys {
		m.counted[k] = true
	}
	for _, w := range tx.Contacts {
		m.contacts[w.CustomerID] = versioned[metric.Contacts]{v: w.State, n: w.Version + 1}
	}
	for _, w := range tx.Instances {
		m.insts[w.Key] = versioned[metric.Instance]{v: w.State, n: w.Version + 1}
	}
	for _, d := range metric.Merge(tx.Deltas) {
		k := counterKey{d.Family, d.Dims, d.Start.Unix()}
		c, ok := m.counters[k]
		if !ok {
			c = &memCounter{c: Counter{Family: d.Family, Start: d.Start.UTC(), Dims: d.Dims, Fields: metric.Fields{}}}
			m.counters[k] = c
		}
		c.c.Fields.Add(d.Fields)
		c.c.Version++
		c.dirty = true
	}
	return nil
}

func (m *MemoryStore) copyCounter(c *memCounter) Counter {
	out := c.c
	out.Fields = metric.Fields{}
	out.Fields.Add(c.c.Fields)
	return out
}

// Dirty implements Store.
func (m *MemoryStore) Dirty(context.Context) ([]Counter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Counter
	for _, c := range m.counters {
		if c.dirty {
			m.Reads++
			out = append(out, m.copyCounter(c))
		}
	}
	return out, nil
}

// Counters implements Store.
func (m *MemoryStore) Counters(_ context.Context, family string, from, to time.Time) ([]Counter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Counter
	for k, c := range m.counters {
		if k.family == family && k.start >= from.Unix() && k.start < to.Unix() {
			m.Reads++
			out = append(out, m.copyCounter(c))
		}
	}
	return out, nil
}

// MarkClean implements Store.
func (m *MemoryStore) MarkClean(_ context.Context, c Counter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mc, ok := m.counters[counterKey{c.Family, c.Dims, c.Start.Unix()}]; ok && mc.c.Version == c.Version {
		mc.dirty = false
	}
	return nil
}

// Cubes implements CubeReader.
func (m *MemoryStore) Cubes(_ context.Context, family, gran string, from, to time.Time) ([]Cube, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Cube
	for k, c := range m.cubes {
		if k.family == family && k.gran == gran && k.start >= from.Unix() && k.start < to.Unix() {
			m.Reads++
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

// PutCube implements Store.
func (m *MemoryStore) PutCube(_ context.Context, c Cube) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := cubeID{c.Family, c.Gran, c.Start.Unix()}
	if old, ok := m.cubes[k]; ok && old.Source > c.Source {
		return nil
	}
	cells := metric.Cells{}
	cells.Merge(c.Cells)
	c.Cells = cells
	m.cubes[k] = c
	return nil
}

// ReplaceCounters implements BackfillStore.
func (m *MemoryStore) ReplaceCounters(_ context.Context, family string, from, to time.Time, slots map[time.Time]metric.Cells) (Replaced, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var r Replaced
	want := map[counterKey]metric.Fields{}
	for start, cells := range slots {
		for dims, f := range cells {
			want[counterKey{family, dims, start.Unix()}] = f
		}
	}
	for k, c := range m.counters {
		if k.family != family || k.start < from.Unix() || k.start >= to.Unix() {
			continue
		}
		if _, ok := want[k]; !ok && !c.c.Fields.Zero() {
			c.c.Fields = metric.Fields{}
			c.c.Version++
			c.dirty = true
			r.Zeroed++
		}
	}
	for k, f := range want {
		c, ok := m.counters[k]
		if !ok {
			c = &memCounter{c: Counter{Family: family, Start: time.Unix(k.start, 0).UTC(), Dims: k.dims}}
			m.counters[k] = c
		} else if equal(c.c.Fields, f) {
			r.Unchanged++
			continue
		}
		c.c.Fields = metric.Fields{}
		c.c.Fields.Add(f)
		c.c.Version++
		c.dirty = true
		r.Written++
	}
	return r, nil
}

func equal(a, b metric.Fields) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
