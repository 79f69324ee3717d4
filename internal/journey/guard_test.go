package journey_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
)

// graph is an in-memory identity store that merges as the DynamoDB store
// does: the absorbed customer points at the survivor and its keys move.
type graph struct {
	mu       sync.Mutex
	owner    map[identity.Key]string
	profiles map[string]*journey.Customer
	applied  map[string]string
	refused  []journey.Refusal
	counts   map[string]int
	now      time.Time
}

func newGraph(now time.Time) *graph {
	return &graph{owner: map[identity.Key]string{}, profiles: map[string]*journey.Customer{}, applied: map[string]string{}, counts: map[string]int{}, now: now}
}

func (g *graph) Load(_ context.Context, eventID string, keys []identity.Key, _ []journey.Ref) (journey.Snapshot, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	snap := journey.Snapshot{Owners: map[identity.Key]string{}}
	if cid, ok := g.applied[eventID]; ok {
		snap.Applied = &journey.Applied{CustomerID: cid}
	}
	for _, k := range keys {
		if o, ok := g.owner[k]; ok {
			snap.Owners[k] = o
		}
	}
	return snap, nil
}

func (g *graph) Commit(_ context.Context, c journey.Change) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.applied[c.Event.ID]; ok {
		return journey.ErrDuplicate
	}
	p := g.profile(c.CustomerID)
	if p.MergedInto != "" {
		return journey.ErrConflict
	}
	for _, k := range c.Link {
		if _, taken := g.owner[k]; taken {
			return journey.ErrConflict
		}
		g.owner[k] = c.CustomerID
		p.Keys = append(p.Keys, k)
	}
	for k, from := range c.Repoint {
		if g.owner[k] == from {
			g.owner[k] = c.CustomerID
		}
	}
	g.applied[c.Event.ID] = c.CustomerID
	return nil
}

func (g *graph) profile(id string) *journey.Customer {
	p, ok := g.profiles[id]
	if !ok {
		p = &journey.Customer{ID: id, Exists: true, FirstSeen: g.now}
		g.profiles[id] = p
	}
	return p
}

func (g *graph) Customers(_ context.Context, ids []string) (map[string]journey.Customer, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]journey.Customer{}
	for _, id := range ids {
		if p, ok := g.profiles[id]; ok {
			out[id] = *p
		}
	}
	return out, nil
}

func (g *graph) Merge(_ context.Context, m journey.Merge) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, b := g.profile(m.Survivor.ID), g.profile(m.Absorbed.ID)
	if b.MergedInto != "" || a.MergedInto != "" {
		return journey.ErrConflict
	}
	b.MergedInto = a.ID
	for _, k := range b.Keys {
		g.owner[k] = a.ID
	}
	a.Keys = append(a.Keys, b.Keys...)
	return nil
}

func (g *graph) Refuse(_ context.Context, r journey.Refusal) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, old := range g.refused {
		if old.ID == r.ID {
			return nil
		}
	}
	g.refused = append(g.refused, r)
	return nil
}

func (g *graph) Count(name string, n int, _ map[string]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.counts[name] += n
}

// live is the customer a key resolves to, following merges.
func (g *graph) live(k identity.Key) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	id := g.owner[k]
	for id != "" && g.profiles[id] != nil && g.profiles[id].MergedInto != "" {
		id = g.profiles[id].MergedInto
	}
	return id
}

func (g *graph) keysOf(id string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for k, o := range g.owner {
		if o == id {
			out = append(out, string(k))
		}
	}
	sort.Strings(out)
	return out
}

type fixture struct {
	t   *testing.T
	g   *graph
	svc *journey.Service
	n   int
}

func newFixture(t *testing.T, guard *identity.Guardrails) *fixture {
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	g := newGraph(now)
	svc := &journey.Service{Store: g, Guard: guard, Refusals: g, Metrics: g, Retention: 24 * time.Hour,
		Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return &fixture{t: t, g: g, svc: svc}
}

func (f *fixture) apply(channel string, c events.Customer) string {
	f.t.Helper()
	f.n++
	id := "evt_" + string(rune('a'+f.n/26)) + string(rune('a'+f.n%26))
	at := time.Date(2026, 11, 23, 8, 0, f.n, 0, time.UTC)
	ev := events.Interaction{ID: id, Type: "customer.identified", Channel: channel, OccurredAt: at, ReceivedAt: at, Customer: c, Attributes: map[string]any{}}
	if err := f.svc.Apply(context.Background(), ev); err != nil {
		f.t.Fatalf("apply %+v: %v", c, err)
	}
	return id
}

// Every event naming a person links their keys: the provider's customer
// record (id, email, phone) joins the customer known by email to the one
// known by phone, and a payment's objects join later events naming only
// them.
func TestEventsNamingAPersonLinkTheirKeys(t *testing.T) {
	f := newFixture(t, nil)
	f.apply("app", events.Customer{Email: "ann@example.com"})
	f.apply("twilio", events.Customer{Phone: "+15550001111"})
	f.apply("stripe", events.Customer{ID: "cus_1", Email: "ann@example.com", Phone: "+15550001111"})
	ann := f.g.live("email:ann@example.com")
	if ann == "" || f.g.live("phone:+15550001111") != ann || f.g.live("stripe:cus_1") != ann {
		t.Fatalf("not one customer: email %s, phone %s, stripe %s", ann, f.g.live("phone:+15550001111"), f.g.live("stripe:cus_1"))
	}
	f.apply("stripe", events.Customer{ID: "cus_1", Refs: []string{"charge:ch_1", "payment_intent:pi_1"}})
	// A dispute names only the charge.
	f.apply("stripe", events.Customer{Refs: []string{"charge:ch_1"}})
	if got := f.g.live("stripe.charge:ch_1"); got != ann {
		t.Fatalf("charge resolves to %s, want %s", got, ann)
	}
	if len(f.g.refused) != 0 {
		t.Fatalf("refused %+v", f.g.refused)
	}
}

func TestGuardrails(t *testing.T) {
	guard, err := identity.NewGuardrails([]string{"email:noreply@*", "phone:+15558675310"}, map[string]int{"email": 1, "stripe": 1})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("never-link values neither link nor resolve", func(t *testing.T) {
		f := newFixture(t, guard)
		f.apply("zendesk", events.Customer{ID: "1", Email: "noreply@shop.example"})
		f.apply("zendesk", events.Customer{ID: "2", Email: "noreply@shop.example"})
		if a, b := f.g.live("zendesk:1"), f.g.live("zendesk:2"); a == "" || a == b {
			t.Fatalf("two people sharing noreply@ were joined: %s %s", a, b)
		}
		if got := f.g.live("email:noreply@shop.example"); got != "" {
			t.Fatalf("noreply@ linked to %s", got)
		}
		// The business's own number alone names no one.
		id := f.apply("twilio", events.Customer{Phone: "+1 555 867 5310"})
		if _, ok := f.g.applied[id]; ok || f.g.counts["UnattributedItems"] != 1 {
			t.Fatalf("an event naming only the support number was attributed (counts %v)", f.g.counts)
		}
	})

	t.Run("a merge over a key limit is refused and listed", func(t *testing.T) {
		f := newFixture(t, guard)
		f.apply("app", events.Customer{Email: "ann@example.com", Phone: "+15550001111"})
		f.apply("app", events.Customer{Email: "bob@example.com"})
		ann, bob := f.g.live("email:ann@example.com"), f.g.live("email:bob@example.com")
		// Bob's event carries Ann's phone: joining them would give one
		// customer two emails, over the limit of one.
		cause := f.apply("app", events.Customer{Email: "bob@example.com", Phone: "+15550001111"})
		if f.g.live("email:ann@example.com") != ann || f.g.live("email:bob@example.com") != bob || ann == bob {
			t.Fatal("the refused merge was applied")
		}
		if len(f.g.refused) != 1 {
			t.Fatalf("refusals %+v", f.g.refused)
		}
		r := f.g.refused[0]
		if r.What != "merge" || r.CauseEvent != cause || !slices.Equal(r.Kinds, []string{"email"}) || !slices.Contains(r.Customers, ann) || !slices.Contains(r.Customers, bob) {
			t.Fatalf("refusal %+v", r)
		}
		if f.g.applied[cause] != bob || f.g.counts["RefusedMerges"] != 1 {
			t.Fatalf("cause recorded under %s (want bob %s), counts %v", f.g.applied[cause], bob, f.g.counts)
		}
	})

	t.Run("a link over a key limit is withheld and listed", func(t *testing.T) {
		f := newFixture(t, guard)
		f.apply("stripe", events.Customer{ID: "cus_1", Email: "ann@example.com"})
		ann := f.g.live("stripe:cus_1")
		f.apply("stripe", events.Customer{ID: "cus_1", Email: "ann.other@example.com"})
		if got := f.g.live("email:ann.other@example.com"); got != "" {
			t.Fatalf("a second email linked to %s", got)
		}
		if len(f.g.refused) != 1 || f.g.refused[0].What != "link" || !slices.Equal(f.g.refused[0].Customers, []string{ann}) {
			t.Fatalf("refusals %+v", f.g.refused)
		}
		// Refs have no limit.
		for _, ch := range []string{"ch_1", "ch_2", "ch_3"} {
			f.apply("stripe", events.Customer{ID: "cus_1", Refs: []string{"charge:" + ch}})
		}
		if got := len(f.g.keysOf(ann)); got != 5 {
			t.Fatalf("keys %v", f.g.keysOf(ann))
		}
	})

	t.Run("a household's shared phone links neither person to the other", func(t *testing.T) {
		f := newFixture(t, guard)
		f.apply("stripe", events.Customer{ID: "cus_a", Email: "ann@example.com", Phone: "+15550002222"})
		f.apply("stripe", events.Customer{ID: "cus_b", Email: "bob@example.com", Phone: "+15550002222"})
		ann, bob := f.g.live("email:ann@example.com"), f.g.live("email:bob@example.com")
		if ann == "" || bob == "" || ann == bob {
			t.Fatalf("ann %s, bob %s", ann, bob)
		}
		if f.g.live("stripe:cus_b") != bob || f.g.live("phone:+15550002222") != ann {
			t.Fatalf("cus_b on %s, phone on %s", f.g.live("stripe:cus_b"), f.g.live("phone:+15550002222"))
		}
		if len(f.g.refused) != 1 || !slices.Equal(f.g.refused[0].Customers, []string{ann}) || !slices.Equal(f.g.refused[0].Kinds, []string{"email", "stripe"}) {
			t.Fatalf("refusals %+v", f.g.refused)
		}
	})

	t.Run("a customer over a lowered limit is not refused its own keys", func(t *testing.T) {
		f := newFixture(t, nil)
		f.apply("app", events.Customer{Email: "ann@example.com", Phone: "+15550001111"})
		f.apply("app", events.Customer{Email: "ann.work@example.com", Phone: "+15550001111"})
		ann := f.g.live("email:ann@example.com")
		if f.g.live("email:ann.work@example.com") != ann {
			t.Fatal("not linked without guardrails")
		}
		f.svc.Guard = guard // email: 1 from now on
		id := f.apply("stripe", events.Customer{ID: "cus_9", Email: "ann.work@example.com"})
		if len(f.g.refused) != 0 || f.g.applied[id] != ann || f.g.live("stripe:cus_9") != ann {
			t.Fatalf("refusals %+v, recorded under %s", f.g.refused, f.g.applied[id])
		}
	})

	t.Run("a redelivered cause records its refusal once", func(t *testing.T) {
		f := newFixture(t, guard)
		f.apply("app", events.Customer{Email: "ann@example.com", Phone: "+15550001111"})
		f.apply("app", events.Customer{Email: "bob@example.com"})
		ev := events.Interaction{ID: "evt_again", Type: "x.y", Channel: "app", Customer: events.Customer{Email: "bob@example.com", Phone: "+15550001111"}, Attributes: map[string]any{}}
		for range 2 {
			if err := f.svc.Apply(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		if len(f.g.refused) != 1 {
			t.Fatalf("refusals %+v", f.g.refused)
		}
	})
}
