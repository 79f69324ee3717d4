package journey_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
)

// memStore keeps state in memory, so the benchmark measures the handler's
// own work (matching, folding, building the write) without a database.
type memStore struct {
	mu      sync.Mutex
	owners  map[identity.Key]string
	applied map[string]bool
	insts   map[journey.Ref]journey.Instance
}

func newMemStore() *memStore {
	return &memStore{owners: map[identity.Key]string{}, applied: map[string]bool{}, insts: map[journey.Ref]journey.Instance{}}
}

func (m *memStore) Load(_ context.Context, eventID string, keys []identity.Key, refs []journey.Ref) (journey.Snapshot, error) {
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

func (m *memStore) Commit(_ context.Context, c journey.Change) error {
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
	for _, k := range c.Link {
		m.owners[k] = c.CustomerID
	}
	for _, in := range c.Journeys {
		cp := *in
		cp.Version++
		m.insts[in.Ref()] = cp
	}
	return nil
}

func (m *memStore) Customers(context.Context, []string) (map[string]journey.Customer, error) {
	return map[string]journey.Customer{}, nil
}

func (m *memStore) Merge(context.Context, journey.Merge) error { return nil }

// BenchmarkServiceApply is the handler's CPU cost per event with the
// shipped journeys; see internal/dynamo's BenchmarkApply for the cost
// against DynamoDB (calls per event).
func BenchmarkServiceApply(b *testing.B) {
	defs, err := journey.Load(config.Shipped, "journeys", nil)
	if err != nil {
		b.Fatal(err)
	}
	cat, err := journey.NewCatalog(defs)
	if err != nil {
		b.Fatal(err)
	}
	svc := &journey.Service{
		Store: newMemStore(), Journeys: cat, Retention: time.Hour, Now: time.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	cust := events.Customer{ID: "115310627314723954", Email: "ann@example.com", Phone: "+14017122661"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		typ := "order.created"
		if i%2 == 1 {
			typ = "order.fulfilled"
		}
		ev := events.Interaction{
			ID: fmt.Sprintf("evt_%026x", i), Type: typ, Channel: "shopify", OccurredAt: t0.Add(time.Duration(i) * time.Second),
			Customer: cust, Attributes: map[string]any{"order_id": fmt.Sprint(i / 2), "total": 12.5, "currency": "EUR"},
		}
		if err := svc.Apply(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
}
