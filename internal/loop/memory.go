package loop

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// Memory is a Store held in memory, with the DynamoDB store's conditions.
type Memory struct {
	mu    sync.Mutex
	loops map[string][]byte
}

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{loops: map[string][]byte{}} }

var _ Store = (*Memory)(nil)

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	raw, ok := m.loops[id]
	if !ok {
		return Record{}, ErrNotFound
	}
	var r Record
	err := json.Unmarshal(raw, &r)
	return r, err
}

// Put implements Store.
func (m *Memory) Put(_ context.Context, r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var cur Record
	if raw, ok := m.loops[r.FailureID]; ok {
		_ = json.Unmarshal(raw, &cur)
	}
	if cur.Version != r.Version {
		return ErrConflict
	}
	r.Version++
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	m.loops[r.FailureID] = raw
	return nil
}

// OfCustomer implements Store.
func (m *Memory) OfCustomer(_ context.Context, customerID string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id, raw := range m.loops {
		var r Record
		_ = json.Unmarshal(raw, &r)
		if r.CustomerID == customerID && !r.Decided() {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ByTicket implements Store.
func (m *Memory) ByTicket(_ context.Context, ticket string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, raw := range m.loops {
		var r Record
		_ = json.Unmarshal(raw, &r)
		if r.TicketID == ticket {
			return id, nil
		}
	}
	return "", ErrNotFound
}

// Due implements Store.
func (m *Memory) Due(_ context.Context, until time.Time, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type due struct {
		id string
		at time.Time
	}
	var all []due
	for id, raw := range m.loops {
		var r Record
		_ = json.Unmarshal(raw, &r)
		if at := r.NextAt(); !at.IsZero() && !at.After(until) {
			all = append(all, due{id, at})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	var out []string
	for i, d := range all {
		if i == limit {
			break
		}
		out = append(out, d.id)
	}
	return out, nil
}
