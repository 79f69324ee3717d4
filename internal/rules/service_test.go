package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/failure"
)

// flakyBus fails while down is set and records what it accepts.
type flakyBus struct {
	mu   sync.Mutex
	down bool
	evs  []events.Event
}

func (b *flakyBus) Publish(_ context.Context, evs ...events.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return errors.New("bus unavailable")
	}
	b.evs = append(b.evs, evs...)
	return nil
}

func (b *flakyBus) count(typ string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, e := range b.evs {
		if e.DetailType == typ {
			n++
		}
	}
	return n
}

// clock is a settable time source safe for concurrent readers.
type clock struct{ ns atomic.Int64 }

func (c *clock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

type harness struct {
	svc   *Service
	mem   *failure.Memory
	store Store
	bus   *flakyBus
	clock *clock
}

func newHarness(t *testing.T, rs []Rule, wrap func(Store) Store) *harness {
	t.Helper()
	eng, err := NewEngine(rs)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{mem: failure.NewMemory(), bus: &flakyBus{}, clock: &clock{}}
	h.clock.set(DefaultTestStart)
	h.store = NewMemoryStore(h.mem)
	if wrap != nil {
		h.store = wrap(h.store)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ann := &failure.Announcer{Outbox: h.mem, Bus: h.bus, Log: log}
	h.svc = &Service{Engine: eng, Store: h.store, Failures: &failure.Service{Store: h.mem, Announcer: ann, Now: h.clock.now},
		Announcer: ann, Now: h.clock.now, Log: log}
	return h
}

func (h *harness) tick(t *testing.T) {
	t.Helper()
	if err := h.svc.Handle(context.Background(), events.Envelope{Source: events.TickSource, DetailType: events.TickType, Detail: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
}

func interaction(t testing.TB, id, typ, email string, at time.Time, attrs map[string]any) events.Envelope {
	t.Helper()
	b, err := json.Marshal(events.Interaction{ID: id, Type: typ, Channel: "app", OccurredAt: at, ReceivedAt: at,
		Customer: events.Customer{Email: email}, Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	return events.Envelope{ID: "env-" + id, Source: events.SourceIngest, DetailType: typ, Time: at, Resources: []string{}, Detail: b}
}

func loadRules(t *testing.T, yaml string) []Rule {
	t.Helper()
	rs, err := Load(fstest.MapFS{"rules/r.yaml": {Data: []byte(yaml)}}, "rules", []string{"cx"})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

const twoFailures = `rules:
  - id: twice
    kind: count
    description: two in an hour
    severity: warning
    team: cx
    threshold: 2
    window: 1h
    pattern: {detail-type: [payment.failed]}
`

// A Lambda retry, an EventBridge duplicate and a concurrent copy of the
// same event publish failure.detected once.
func TestFailureDetectedOnceUnderRetries(t *testing.T) {
	h := newHarness(t, loadRules(t, twoFailures), nil)
	ctx := context.Background()
	at := DefaultTestStart
	first := interaction(t, "p1", "payment.failed", "ann@example.com", at, nil)
	second := interaction(t, "p2", "payment.failed", "ann@example.com", at.Add(time.Minute), nil)
	if err := h.svc.Handle(ctx, first); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if err := h.svc.Handle(ctx, second); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := h.bus.count(events.TypeFailureDetected); n != 1 {
		t.Fatalf("failure.detected published %d times, want 1", n)
	}
	all := h.mem.All()
	if len(all) != 1 || all[0].Occurrences != 1 || all[0].State != failure.Open || len(all[0].History) != 1 {
		t.Fatalf("failures %+v", all)
	}
}

// A crash (here: the bus failing) between recording a failure and
// publishing it delays the event to the schedule; it is not lost, and not
// sent twice.
func TestFailureEventSurvivesAFailedPublish(t *testing.T) {
	h := newHarness(t, loadRules(t, twoFailures), nil)
	ctx := context.Background()
	at := DefaultTestStart
	if err := h.svc.Handle(ctx, interaction(t, "p1", "payment.failed", "ann@example.com", at, nil)); err != nil {
		t.Fatal(err)
	}
	h.bus.down = true
	second := interaction(t, "p2", "payment.failed", "ann@example.com", at.Add(time.Minute), nil)
	if err := h.svc.Handle(ctx, second); err == nil {
		t.Fatal("a failed publish was not reported")
	}
	h.bus.down = false
	// Lambda retries: the evaluation was committed, so nothing happens.
	if err := h.svc.Handle(ctx, second); err != nil {
		t.Fatal(err)
	}
	h.tick(t) // within the writer's lease: left alone
	if n := h.bus.count(events.TypeFailureDetected); n != 0 || h.mem.Pending() != 1 {
		t.Fatalf("published %d, %d waiting; want 0 and 1 within the lease", n, h.mem.Pending())
	}
	h.clock.add(failure.Lease + time.Second)
	h.tick(t)
	h.tick(t)
	if n := h.bus.count(events.TypeFailureDetected); n != 1 || h.mem.Pending() != 0 {
		t.Fatalf("published %d, %d waiting; want 1 and 0 after the lease", n, h.mem.Pending())
	}
}

// conflicting makes the first few commits fail as if another invocation
// had changed the state in between.
type conflicting struct {
	Store
	left atomic.Int32
}

func (c *conflicting) Commit(ctx context.Context, cm Commit) error {
	if c.left.Add(-1) >= 0 {
		return ErrConflict
	}
	return c.Store.Commit(ctx, cm)
}

func TestConflictsAreEvaluatedAgain(t *testing.T) {
	var cs *conflicting
	h := newHarness(t, loadRules(t, twoFailures), func(s Store) Store {
		cs = &conflicting{Store: s}
		cs.left.Store(3)
		return cs
	})
	ctx := context.Background()
	for i, at := range []time.Time{DefaultTestStart, DefaultTestStart.Add(time.Minute)} {
		if err := h.svc.Handle(ctx, interaction(t, fmt.Sprint("p", i), "payment.failed", "ann@example.com", at, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.bus.count(events.TypeFailureDetected); n != 1 {
		t.Fatalf("failure.detected published %d times, want 1", n)
	}
	cs.left.Store(maxAttempts + 1)
	err := h.svc.Handle(ctx, interaction(t, "p9", "payment.failed", "bob@example.com", DefaultTestStart, nil))
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("endless conflicts gave %v, want ErrConflict after %d attempts", err, maxAttempts)
	}
}

const absence = `rules:
  - id: reply
    kind: absence
    description: no reply within 4h
    severity: warning
    team: cx
    key: detail.attributes.ticket
    within: 4h
    pattern: {detail-type: [ticket.created]}
    until: {detail-type: [ticket.replied]}
`

// Two schedule runs at once (an overlapping invocation) fire a deadline
// once; a run before the deadline fires nothing.
func TestDeadlineFiresOnce(t *testing.T) {
	h := newHarness(t, loadRules(t, absence), nil)
	ctx := context.Background()
	if err := h.svc.Handle(ctx, interaction(t, "t1", "ticket.created", "ann@example.com", DefaultTestStart, map[string]any{"ticket": "9"})); err != nil {
		t.Fatal(err)
	}
	h.clock.add(4*time.Hour - time.Second)
	h.tick(t)
	if len(h.mem.All()) != 0 {
		t.Fatal("fired before the deadline")
	}
	h.clock.add(time.Second)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { h.tick(t) })
	}
	wg.Wait()
	h.tick(t)
	if n := h.bus.count(events.TypeFailureDetected); n != 1 {
		t.Fatalf("failure.detected published %d times, want 1", n)
	}
	f := h.mem.All()[0]
	if !f.DetectedAt.Equal(DefaultTestStart.Add(4*time.Hour)) || f.Key != "attributes.ticket=9" || f.CustomerID != "ann@example.com" {
		t.Fatalf("failure %+v", f)
	}
	// The reply comes: the failure resolves, announced once.
	h.clock.add(time.Hour)
	reply := interaction(t, "r1", "ticket.replied", "ann@example.com", h.clock.now(), map[string]any{"ticket": "9"})
	for range 2 {
		if err := h.svc.Handle(ctx, reply); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := h.mem.Get(ctx, f.ID)
	if got.State != failure.Resolved || len(got.History) != 2 || got.History[1].By != "rule reply" || h.bus.count(events.TypeFailureResolved) != 1 {
		t.Fatalf("after the reply: %+v, %d resolved events", got, h.bus.count(events.TypeFailureResolved))
	}
}

// A rule taken out of the configuration leaves no timer firing forever.
func TestRemovedRuleTimerIsCleared(t *testing.T) {
	h := newHarness(t, loadRules(t, absence), nil)
	ctx := context.Background()
	if err := h.svc.Handle(ctx, interaction(t, "t1", "ticket.created", "ann@example.com", DefaultTestStart, map[string]any{"ticket": "9"})); err != nil {
		t.Fatal(err)
	}
	// The function restarts with a configuration without the rule.
	other := newHarness(t, loadRules(t, twoFailures), nil)
	h.svc.Engine = other.svc.Engine
	h.clock.add(5 * time.Hour)
	h.tick(t)
	due, _ := h.store.Due(ctx, h.clock.now(), 10)
	if len(due) != 0 || len(h.mem.All()) != 0 {
		t.Fatalf("due %v, failures %v", due, h.mem.All())
	}
}

// Every evaluation of every kind survives a restart: state lives in the
// store, not the process.
func TestStateSurvivesARestart(t *testing.T) {
	h := newHarness(t, loadRules(t, twoFailures), nil)
	ctx := context.Background()
	if err := h.svc.Handle(ctx, interaction(t, "p1", "payment.failed", "ann@example.com", DefaultTestStart, nil)); err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(loadRules(t, twoFailures))
	if err != nil {
		t.Fatal(err)
	}
	h.svc.Engine = eng
	if err := h.svc.Handle(ctx, interaction(t, "p2", "payment.failed", "ann@example.com", DefaultTestStart.Add(time.Minute), nil)); err != nil {
		t.Fatal(err)
	}
	if len(h.mem.All()) != 1 {
		t.Fatalf("failures after a restart: %v", h.mem.All())
	}
}

// An event without a value for the rule's key is skipped, not failed.
func TestEventWithoutKeyIsSkipped(t *testing.T) {
	h := newHarness(t, loadRules(t, absence), nil)
	if err := h.svc.Handle(context.Background(), interaction(t, "t1", "ticket.created", "ann@example.com", DefaultTestStart, nil)); err != nil {
		t.Fatal(err)
	}
	due, _ := h.store.Due(context.Background(), DefaultTestStart.Add(24*time.Hour), 10)
	if len(due) != 0 {
		t.Fatalf("a timer without a key: %v", due)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90s": 90 * time.Second, "15m": 15 * time.Minute, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour,
		"2w": 14 * 24 * time.Hour, "1.5h": 90 * time.Minute, "250ms": 250 * time.Millisecond, "0": 0,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "7 days", "-1h", "1y"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func TestKeyExpressions(t *testing.T) {
	doc := map[string]any{"detail": map[string]any{
		"channel": "zendesk", "customer": map[string]any{"id": "381", "email": " Ann@Example.COM ", "phone": "+44 (0)7946 000000"},
		"attributes": map[string]any{"ticket_id": 100.0, "empty": ""},
	}}
	for _, c := range []struct {
		alts []string
		want string
	}{
		{CustomerKey, "customer.email=ann@example.com"},
		{[]string{"detail.attributes.empty", "detail.channel+detail.attributes.ticket_id"}, "channel+attributes.ticket_id=zendesk+100"},
		{[]string{"detail.customer_id"}, ""},
		{[]string{"detail.channel+detail.missing"}, ""},
	} {
		k, err := parseKey(c.alts)
		if err != nil {
			t.Fatal(err)
		}
		if got := k.eval(doc); got != c.want {
			t.Errorf("%v = %q, want %q", c.alts, got, c.want)
		}
	}
}

// stallRule is one stall rule with the kind's defaults.
const stallRule = `rules:
  - id: stalled
    kind: stall
    description: stage past its SLA
    severity: warning
    team: cx
`

// The stall kind reads journey events as the journey function publishes
// them (events.JourneyEvent).
func TestStallOnJourneyEvents(t *testing.T) {
	h := newHarness(t, loadRules(t, stallRule), nil)
	ctx := context.Background()
	journeyEvent := func(typ, stage string, at time.Time, sla time.Duration) events.Envelope {
		je := events.JourneyEvent{ID: "jev-" + stage + typ, Type: typ, Journey: "support-case", Instance: "100", CustomerID: "cus_1",
			Stage: stage, EnteredAt: at, OccurredAt: at}
		if sla > 0 {
			due := at.Add(sla)
			je.SLADueAt = &due
		}
		b, err := json.Marshal(je)
		if err != nil {
			t.Fatal(err)
		}
		return events.Envelope{ID: "env-" + je.ID, Source: events.SourceJourney, DetailType: typ, Time: at, Resources: []string{}, Detail: b}
	}
	if err := h.svc.Handle(ctx, journeyEvent("journey.started", "new", DefaultTestStart, 4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	h.clock.add(4*time.Hour + 30*time.Second)
	h.tick(t)
	all := h.mem.All()
	if len(all) != 1 || all[0].Key != "journey+instance=support-case+100" || all[0].CustomerID != "cus_1" || all[0].Evidence[0].Attributes["stage"] != "new" {
		t.Fatalf("failures %+v", all)
	}
	if err := h.svc.Handle(ctx, journeyEvent("journey.stage_changed", "responded", h.clock.now(), 48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if f, _ := h.mem.Get(ctx, all[0].ID); f.State != failure.Resolved {
		t.Fatalf("after the stage change the failure is %s", f.State)
	}
	due, _ := h.store.Due(ctx, h.clock.now().Add(48*time.Hour), 10)
	if len(due) != 1 || due[0].State.Pending.Attributes["stage"] != "responded" {
		t.Fatalf("next stage's deadline: %+v", due)
	}
}

// A journey's events reach the rules in any order (the bus queue does not
// keep it), and a stall is judged by when each stage was left, whichever
// is evaluated first: an order placed, fulfilled a day later and delivered
// exactly at the placed stage's deadline stalled nowhere; one fulfilled a
// day after that deadline stalled once; one that stayed placed until its
// delivery at the deadline stalled once.
func TestStallIndependentOfArrivalOrder(t *testing.T) {
	placed := DefaultTestStart
	je := func(typ, stage, prev string, prevEntered, entered, at time.Time, sla time.Duration) events.Envelope {
		e := events.JourneyEvent{ID: "jev-" + typ + "-" + stage, Type: typ, Journey: "order-to-delivery", Instance: "1001", CustomerID: "cus_1",
			Stage: stage, PreviousStage: prev, EnteredAt: entered, OccurredAt: at}
		if sla > 0 {
			due := entered.Add(sla)
			e.SLADueAt = &due
		}
		if typ != events.TypeJourneyStarted {
			left := at
			e.ExitedAt = &left
		}
		if prev != "" {
			e.PreviousEnteredAt = &prevEntered
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return events.Envelope{ID: "env-" + e.ID, Source: events.SourceJourney, DetailType: typ, Time: at, Resources: []string{}, Detail: b}
	}
	// order is the three events of an order fulfilled and delivered after
	// the given times.
	order := func(fulfilled, delivered time.Duration) []events.Envelope {
		f, d := placed.Add(fulfilled), placed.Add(delivered)
		return []events.Envelope{
			je(events.TypeJourneyStarted, "placed", "", time.Time{}, placed, placed, 48*time.Hour),
			je(events.TypeJourneyStageChanged, "fulfilled", "placed", placed, f, f, 7*24*time.Hour),
			je(events.TypeJourneyCompleted, "fulfilled", "", time.Time{}, f, d, 0),
		}
	}
	// evaluate hands a stall rule the events in order, a day after the
	// last, and runs the schedule; it returns the failures raised.
	evaluate := func(evs ...events.Envelope) []events.Failure {
		h := newHarness(t, loadRules(t, stallRule), nil)
		h.clock.set(placed.Add(5 * 24 * time.Hour))
		for _, ev := range evs {
			if err := h.svc.Handle(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		h.tick(t)
		return h.mem.All()
	}
	perms := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, c := range []struct {
		name                 string
		fulfilled, delivered time.Duration
		want                 int
	}{
		{"fulfilled a day before the deadline, delivered at it", 24 * time.Hour, 48 * time.Hour, 0},
		{"fulfilled a day after the deadline", 72 * time.Hour, 96 * time.Hour, 1},
	} {
		evs := order(c.fulfilled, c.delivered)
		for _, p := range perms {
			if got := evaluate(evs[p[0]], evs[p[1]], evs[p[2]]); len(got) != c.want {
				t.Errorf("%s, evaluated in order %v: %d failures, want %d", c.name, p, len(got), c.want)
			} else if c.want == 1 && got[0].Evidence[0].Attributes["stage"] != "placed" {
				t.Errorf("%s, evaluated in order %v: the failure is of stage %v, want placed", c.name, p, got[0].Evidence[0].Attributes["stage"])
			}
		}
	}

	// Placed until delivered at the deadline: missed, in either order.
	started := order(0, 0)[0]
	late := je(events.TypeJourneyCompleted, "placed", "", time.Time{}, placed, placed.Add(48*time.Hour), 0)
	for i, evs := range [][]events.Envelope{{started, late}, {late, started}} {
		if got := evaluate(evs...); len(got) != 1 {
			t.Errorf("placed until the deadline, order %d: %d failures, want 1", i, len(got))
		}
	}
}
