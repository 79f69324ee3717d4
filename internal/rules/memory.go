package rules

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ocxhq/ocx/internal/failure"
)

// MemoryStore is a Store held in memory, writing failures to a
// failure.Memory. Rule unit tests run against it; it applies the same
// conditions as the DynamoDB store.
type MemoryStore struct {
	Failures *failure.Memory

	mu      sync.Mutex
	states  map[StateKey]State
	tallies map[tallyKey]*Tally
	counted map[tallyKey]map[string]bool
}

type tallyKey struct {
	rule, key string
	minute    time.Time
}

// NewMemoryStore returns an empty store writing failures to fs.
func NewMemoryStore(fs *failure.Memory) *MemoryStore {
	return &MemoryStore{Failures: fs, states: map[StateKey]State{}, tallies: map[tallyKey]*Tally{}, counted: map[tallyKey]map[string]bool{}}
}

// Load implements Store.
func (m *MemoryStore) Load(_ context.Context, keys []StateKey) (map[StateKey]State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[StateKey]State, len(keys))
	for _, k := range keys {
		out[k] = m.states[k]
	}
	return out, nil
}

// Commit implements Store.
func (m *MemoryStore) Commit(_ context.Context, c Commit) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range c.States {
		if m.states[s.StateKey].Version != s.State.Version {
			return ErrConflict
		}
	}
	for _, f := range c.Failures {
		if m.Failures.Exists(f.ID) {
			return ErrConflict
		}
	}
	for _, s := range c.States {
		st := s.State
		st.Version++
		m.states[s.StateKey] = st
	}
	m.Failures.Create(c.Failures, c.Messages)
	for _, r := range c.Repeats {
		m.Failures.Repeat(r.Failure, r.At)
	}
	return nil
}

// Count implements Store.
func (m *MemoryStore) Count(_ context.Context, t Tally, event string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := tallyKey{t.Rule, t.Key, t.Minute}
	if m.counted[k][event] {
		return nil
	}
	if m.counted[k] == nil {
		m.counted[k] = map[string]bool{}
	}
	m.counted[k][event] = true
	cur, ok := m.tallies[k]
	if !ok {
		cur = &Tally{Rule: t.Rule, Key: t.Key, Minute: t.Minute}
		m.tallies[k] = cur
	}
	cur.Bad += t.Bad
	cur.Total += t.Total
	if t.Last != nil {
		cur.Last = t.Last
	}
	return nil
}

// Due implements Store.
func (m *MemoryStore) Due(_ context.Context, now time.Time, limit int) ([]Keyed, error) {
	return m.deadlines(func(due time.Time) bool { return !due.IsZero() && !due.After(now) }, limit), nil
}

// Upcoming implements Store.
func (m *MemoryStore) Upcoming(_ context.Context, after, through time.Time, limit int) ([]Keyed, error) {
	return m.deadlines(func(due time.Time) bool { return due.After(after) && !due.After(through) }, limit), nil
}

// deadlines lists up to limit states whose Due passes in, soonest first.
func (m *MemoryStore) deadlines(in func(time.Time) bool, limit int) []Keyed {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Keyed
	for k, st := range m.states {
		if in(st.Due) {
			out = append(out, Keyed{StateKey: k, State: st})
		}
	}
	slices.SortFunc(out, func(a, b Keyed) int { return a.State.Due.Compare(b.State.Due) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Watched implements Store.
func (m *MemoryStore) Watched(_ context.Context, rule string) ([]StateKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []StateKey
	for k, st := range m.states {
		if k.Rule == rule && st.Watch {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b StateKey) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Tallies implements Store.
func (m *MemoryStore) Tallies(_ context.Context, rule string, since time.Time) ([]Tally, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Tally
	for k, t := range m.tallies {
		if k.rule == rule && !k.minute.Before(since) {
			out = append(out, *t)
		}
	}
	slices.SortFunc(out, func(a, b Tally) int { return a.Minute.Compare(b.Minute) })
	return out, nil
}
