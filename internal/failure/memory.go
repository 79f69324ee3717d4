package failure

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ocxhq/ocx/events"
)

// Memory is a Store and Outbox held in memory. Rule unit tests (`ocx rules
// test`) run the rules against it; it follows the same conditions as the
// DynamoDB store.
type Memory struct {
	mu       sync.Mutex
	failures map[string]events.Failure
	order    []string // ids in the order they were created
	outbox   map[string]Message
	activity map[string][]Activity
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{failures: map[string]events.Failure{}, outbox: map[string]Message{}, activity: map[string][]Activity{}}
}

// Exists reports whether a failure with id was created.
func (m *Memory) Exists(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.failures[id]
	return ok
}

// Create stores new failures and their messages; the caller has checked
// with Exists that none is there yet.
func (m *Memory) Create(fs []events.Failure, msgs []Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range fs {
		m.failures[f.ID] = f
		m.order = append(m.order, f.ID)
	}
	for _, msg := range msgs {
		m.outbox[msg.ID] = msg
	}
}

// Repeat counts one more occurrence of an existing failure seen at `at`.
func (m *Memory) Repeat(id string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.failures[id]
	if !ok {
		return
	}
	f.Occurrences++
	if at.After(f.LastSeenAt) {
		f.LastSeenAt = at
	}
	m.failures[id] = f
}

// All returns every failure in the order they were created.
func (m *Memory) All() []events.Failure {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]events.Failure, 0, len(m.order))
	for _, id := range m.order {
		out = append(out, m.failures[id])
	}
	return out
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (events.Failure, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.failures[id]
	if !ok {
		return events.Failure{}, ErrNotFound
	}
	return f, nil
}

// List implements Store; the cursor is the offset into the newest-first list.
func (m *Memory) List(_ context.Context, flt Filter, cursor string, limit int) ([]events.Failure, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 {
			return nil, "", ErrBadCursor
		}
		start = n
	}
	var all []events.Failure
	for _, id := range slices.Backward(m.order) {
		f := m.failures[id]
		if (flt.State == "" || f.State == flt.State) && (flt.Team == "" || f.Team == flt.Team) && (flt.Rule == "" || f.RuleID == flt.Rule) &&
			(flt.Severity == "" || f.Severity == flt.Severity) {
			all = append(all, f)
		}
	}
	if flt.Oldest {
		slices.Reverse(all)
	}
	if start >= len(all) {
		return nil, "", nil
	}
	end := min(start+limit, len(all))
	next := ""
	if end < len(all) {
		next = strconv.Itoa(end)
	}
	return all[start:end], next, nil
}

// Transition implements Store.
func (m *Memory) Transition(_ context.Context, f events.Failure, from string, msg Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.failures[f.ID]
	if !ok {
		return ErrNotFound
	}
	if cur.State != from {
		return ErrConflict
	}
	m.failures[f.ID] = f
	m.outbox[msg.ID] = msg
	return nil
}

// Due implements Outbox.
func (m *Memory) Due(_ context.Context, now time.Time, limit int) ([]Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Message
	for _, msg := range m.outbox {
		if msg.LeaseUntil.Before(now) {
			out = append(out, msg)
		}
	}
	slices.SortFunc(out, func(a, b Message) int { return a.LeaseUntil.Compare(b.LeaseUntil) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Claim implements Outbox.
func (m *Memory) Claim(_ context.Context, id string, now, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg, ok := m.outbox[id]
	if !ok || !msg.LeaseUntil.Before(now) {
		return false, nil
	}
	msg.LeaseUntil = until
	m.outbox[id] = msg
	return true, nil
}

// Sent implements Outbox.
func (m *Memory) Sent(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.outbox, id)
	return nil
}

// Pending is how many messages wait in the outbox.
func (m *Memory) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.outbox)
}

// Record implements Notebook.
func (m *Memory) Record(_ context.Context, id string, a Activity) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.failures[id]; !ok {
		return ErrNotFound
	}
	m.activity[id] = append(m.activity[id], a)
	slices.SortStableFunc(m.activity[id], func(x, y Activity) int { return strings.Compare(x.ID, y.ID) })
	return nil
}

// Activity implements Notebook.
func (m *Memory) Activity(_ context.Context, id string) ([]Activity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.activity[id]), nil
}

// Assignments implements Notebook.
func (m *Memory) Assignments(_ context.Context, ids []string) (map[string]Assignment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Assignment{}
	for _, id := range ids {
		for _, a := range m.activity[id] {
			if a.Kind == KindAssign {
				out[id] = Assignment{Assignee: a.Assignee, By: a.By, At: a.At}
			}
		}
		if out[id].Assignee == "" {
			delete(out, id)
		}
	}
	return out, nil
}
