package loop_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/loop"
	"github.com/ocxhq/ocx/internal/testclock"
	"github.com/ocxhq/ocx/internal/zendesk"
	"github.com/ocxhq/ocx/internal/zendesk/zendesktest"
)

type published struct {
	mu  sync.Mutex
	evs []events.Event
}

func (p *published) Publish(_ context.Context, evs ...events.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.evs = append(p.evs, evs...)
	return nil
}

func (p *published) types() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.evs {
		out = append(out, e.DetailType)
	}
	return out
}

type wakes struct{ at map[string]time.Time }

func (w *wakes) Schedule(_ context.Context, key string, at time.Time) error {
	w.at[key] = at
	return nil
}

type escalations struct{ failures []string }

func (e *escalations) EscalateFollowUp(_ context.Context, f events.Failure, _ time.Time) error {
	e.failures = append(e.failures, f.ID)
	return nil
}

type oneCustomer string

func (c oneCustomer) CustomerOf(context.Context, []identity.Key) (string, error) {
	return string(c), nil
}

type secrets map[string]string

func (s secrets) Get(_ context.Context, name string) (string, error) {
	if v, ok := s[name]; ok {
		return v, nil
	}
	return "", errors.New("not found")
}

type fixture struct {
	clock    *testclock.Clock
	failures *failure.Memory
	store    *loop.Memory
	bus      *published
	wakes    *wakes
	esc      *escalations
	zd       *zendesktest.Server
	svc      *loop.Service
	watcher  *loop.Watcher
	f        events.Failure
}

func newFixture(t *testing.T, p loop.Policy) *fixture {
	t.Helper()
	x := &fixture{clock: testclock.New(testclock.Default), failures: failure.NewMemory(), store: loop.NewMemory(),
		bus: &published{}, wakes: &wakes{at: map[string]time.Time{}}, esc: &escalations{}, zd: zendesktest.New("ocx@example.com", "tok")}
	t.Cleanup(x.zd.Close)
	client := &zendesk.Client{Secrets: secrets{zendesk.SecretName: `{"url":"` + x.zd.URL + `","email":"ocx@example.com","token":"tok"}`},
		HTTP: &http.Client{Timeout: 5 * time.Second}, Now: x.clock.Now}
	x.svc = &loop.Service{Store: x.store, Helpdesk: zendesk.Helpdesk{Client: client},
		Escalator: x.esc, Failures: x.failures, Bus: x.bus, Wakeups: x.wakes, Now: x.clock.Now}
	announcer := &failure.Announcer{Outbox: x.failures, Bus: x.bus, Log: slog.New(slog.DiscardHandler)}
	x.watcher = &loop.Watcher{Service: x.svc, Customers: oneCustomer("cus_1"),
		Resolver: &failure.Service{Store: x.failures, Announcer: announcer, Now: x.clock.Now}}
	now := x.clock.Now()
	x.f = failure.Opened(events.Failure{ID: "flr_0123456789abcdef01234567", RuleID: "survey.detractor", Description: "Detractor answer",
		Severity: "warning", Team: "cx-support", CustomerID: "cus_1", Labels: map[string]string{"channel": "typeform"}, DetectedAt: now,
		Evidence: []events.Evidence{{EventID: "evt_1", Type: "survey.responded", Channel: "typeform", OccurredAt: now.Add(-time.Second),
			Customer: events.Customer{Email: "ana@example.com"}, Attributes: map[string]any{"survey": "nps", "score": 3.0}}},
		Policy: p.Event()}, "rule survey.detractor")
	x.failures.Create([]events.Failure{x.f}, nil)
	return x
}

func (x *fixture) record(t *testing.T) loop.Record {
	t.Helper()
	r, err := x.store.Get(context.Background(), x.f.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (x *fixture) interaction(typ string, after time.Duration, attrs map[string]any) events.Interaction {
	return events.Interaction{ID: "evt_" + typ, Type: typ, Channel: "zendesk", OccurredAt: x.f.DetectedAt.Add(after),
		Customer: events.Customer{Email: "ana@example.com"}, Attributes: attrs}
}

func TestTicketCreatedOnceAcrossRetries(t *testing.T) {
	x := newFixture(t, loop.Policy{Actions: []string{loop.ActionZendeskTicket}})
	ctx := context.Background()
	x.zd.FailNext(1, http.StatusServiceUnavailable, "")
	err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f)
	var later *loop.RetryLater
	if !errors.As(err, &later) {
		t.Fatalf("first delivery: got %v, want a retryable error so the event is delivered again", err)
	}
	if x.wakes.at[loop.WakePrefix+x.f.ID].IsZero() {
		t.Fatal("no wake-up asked for to retry the ticket")
	}
	for range 3 { // the redelivered event, and a duplicate
		if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.svc.Wake(ctx, loop.WakePrefix+x.f.ID); err != nil {
		t.Fatal(err)
	}
	tickets := x.zd.Tickets()
	if len(tickets) != 1 {
		t.Fatalf("%d tickets, want 1", len(tickets))
	}
	tk := tickets[0]
	if tk.Requester.Email != "ana@example.com" || tk.Priority != "high" || tk.IdempotencyKey != "ocx-"+x.f.ID || tk.ExternalID != x.f.ID {
		t.Fatalf("ticket %+v", tk)
	}
	if r := x.record(t); r.TicketID != "35436" || r.TicketError != "" {
		t.Fatalf("loop %+v: want ticket 35436 recorded", r)
	}
}

func TestTicketRateLimitHoldsTheSlot(t *testing.T) {
	x := newFixture(t, loop.Policy{Actions: []string{loop.ActionZendeskTicket}})
	ctx := context.Background()
	x.zd.FailNext(1, http.StatusTooManyRequests, "120")
	// The event is not failed (Lambda's retries would fall inside the
	// wait); the loop's wake-up comes when the wait is over.
	if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); err != nil {
		t.Fatal(err)
	}
	r := x.record(t)
	if r.TicketID != "" || r.TicketError == "" || !x.wakes.at[loop.WakePrefix+x.f.ID].Equal(r.TicketLease) || r.TicketLease.Sub(x.clock.Now()) < 119*time.Second {
		t.Fatalf("loop %+v, wake-up at %s: want the slot held until Retry-After and a wake-up then", r, x.wakes.at[loop.WakePrefix+x.f.ID])
	}
	// Within Retry-After nobody calls Zendesk again, whatever is redelivered.
	for range 2 {
		if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); err != nil {
			t.Fatal(err)
		}
		if err := x.svc.Wake(ctx, loop.WakePrefix+x.f.ID); err != nil && !errors.Is(err, loop.ErrTicketInFlight) {
			t.Fatal(err)
		}
	}
	if n := x.zd.Requests(); n != 1 {
		t.Fatalf("%d requests within Retry-After, want 1", n)
	}
	x.clock.Advance(121 * time.Second)
	if err := x.svc.Wake(ctx, loop.WakePrefix+x.f.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(x.zd.Tickets()); n != 1 {
		t.Fatalf("%d tickets, want 1", n)
	}
}

func TestTicketRefusedIsNotRetried(t *testing.T) {
	x := newFixture(t, loop.Policy{Actions: []string{loop.ActionZendeskTicket}})
	x.f.Evidence[0].Customer.Email = ""
	if err := x.svc.Observe(context.Background(), events.TypeFailureDetected, x.f); err != nil {
		t.Fatal(err)
	}
	if r := x.record(t); !r.TicketFinal || r.TicketID != "" || x.zd.Requests() != 0 {
		t.Fatalf("loop %+v after %d requests: want the ticket given up without calling Zendesk", r, x.zd.Requests())
	}
}

func TestSolvedTicketResolvesTheFailure(t *testing.T) {
	x := newFixture(t, loop.Policy{Actions: []string{loop.ActionZendeskTicket}})
	ctx := context.Background()
	if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); err != nil {
		t.Fatal(err)
	}
	if err := x.watcher.Observe(ctx, x.interaction("ticket.solved", time.Hour, map[string]any{"ticket_id": "35436", "status": "solved"})); err != nil {
		t.Fatal(err)
	}
	f, _ := x.failures.Get(ctx, x.f.ID)
	last := f.History[len(f.History)-1]
	if f.State != failure.Resolved || last.By != "zendesk" || last.Note != "Zendesk ticket 35436 was solved" {
		t.Fatalf("failure %s, last step %+v", f.State, last)
	}
	// The ticket's own events are not the customer coming back.
	if r := x.record(t); r.RepeatContact || !r.LastActivityAt.IsZero() {
		t.Fatalf("loop %+v: the ticket's events counted as the customer's", r)
	}
}

func TestFollowUpMissedEscalatesOnce(t *testing.T) {
	x := newFixture(t, loop.Policy{FollowUp: 48 * time.Hour})
	ctx := context.Background()
	if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); err != nil {
		t.Fatal(err)
	}
	due := x.f.DetectedAt.Add(48 * time.Hour)
	if got := x.wakes.at[loop.WakePrefix+x.f.ID]; !got.IsZero() {
		t.Fatalf("wake-up at %s: two days ahead, the sweep should bring it", got)
	}
	// The sweep before the deadline comes within its horizon asks for
	// nothing; the one after asks for a wake-up at the deadline itself.
	x.clock.Set(due.Add(-loop.SweepHorizon - time.Minute))
	if err := x.svc.Sweep(ctx); err != nil || !x.wakes.at[loop.WakePrefix+x.f.ID].IsZero() {
		t.Fatalf("early sweep: %v, wake-up at %s", err, x.wakes.at[loop.WakePrefix+x.f.ID])
	}
	x.clock.Set(due.Add(-5 * time.Minute))
	if err := x.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := x.wakes.at[loop.WakePrefix+x.f.ID]; !got.Equal(due) {
		t.Fatalf("wake-up at %s, want the deadline %s", got, due)
	}
	if err := x.svc.Wake(ctx, loop.WakePrefix+x.f.ID); err != nil || len(x.esc.failures) != 0 {
		t.Fatalf("an early wake-up escalated (%v, %v)", err, x.esc.failures)
	}
	x.clock.Set(due)
	for range 2 {
		if err := x.svc.Wake(ctx, loop.WakePrefix+x.f.ID); err != nil {
			t.Fatal(err)
		}
	}
	if len(x.esc.failures) != 1 || x.record(t).EscalatedAt.IsZero() {
		t.Fatalf("escalations %v, loop %+v", x.esc.failures, x.record(t))
	}
	if got := x.bus.types(); len(got) != 1 || got[0] != events.TypeFailureEscalated {
		t.Fatalf("published %v, want one failure.escalated", got)
	}
}

func TestFollowUpMetIsNotEscalated(t *testing.T) {
	x := newFixture(t, loop.Policy{FollowUp: 48 * time.Hour})
	ctx := context.Background()
	if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); err != nil {
		t.Fatal(err)
	}
	reply := x.interaction("ticket.replied", 2*time.Hour, map[string]any{"author": "agent", "public": true, "ticket_id": "99"})
	if err := x.watcher.Observe(ctx, reply); err != nil {
		t.Fatal(err)
	}
	x.clock.Set(x.f.DetectedAt.Add(49 * time.Hour))
	if err := x.svc.Wake(ctx, loop.WakePrefix+x.f.ID); err != nil {
		t.Fatal(err)
	}
	r := x.record(t)
	if len(x.esc.failures) != 0 || !r.FollowedUpAt.Equal(reply.OccurredAt) || r.FollowedUpBy != "ticket.replied" {
		t.Fatalf("escalations %v, loop %+v", x.esc.failures, r)
	}
	if got := x.bus.types(); len(got) != 1 || got[0] != events.TypeFailureFollowedUp {
		t.Fatalf("published %v, want one failure.followed_up", got)
	}
}

func TestOutcomes(t *testing.T) {
	cases := []struct {
		name    string
		events  []events.Interaction
		wait    time.Duration
		outcome string
		reason  string
	}{
		{name: "a later promoter answer", events: []events.Interaction{{Type: "survey.responded", Attributes: map[string]any{"survey": "nps", "score": 9.0}}},
			outcome: events.OutcomeRecovered, reason: "nps 9"},
		{name: "a later satisfied answer", events: []events.Interaction{{Type: "survey.responded", Attributes: map[string]any{"survey": "csat", "score": 4.0}}},
			outcome: events.OutcomeRecovered, reason: "csat 4"},
		{name: "a later payment", events: []events.Interaction{{Type: "payment.succeeded"}}, outcome: events.OutcomeRecovered, reason: "payment.succeeded"},
		{name: "a refund", events: []events.Interaction{{Type: "order.refunded"}}, outcome: events.OutcomeChurned, reason: "order.refunded"},
		{name: "silence", wait: 30 * 24 * time.Hour, outcome: events.OutcomeChurned, reason: "silence"},
		{name: "heard from, no new contact", events: []events.Interaction{{Type: "email.opened"}}, wait: 30 * 24 * time.Hour,
			outcome: events.OutcomeRecovered, reason: "no repeat contact"},
		{name: "only another contact", events: []events.Interaction{{Type: "ticket.created", Attributes: map[string]any{"ticket_id": "7"}}}, wait: 30 * 24 * time.Hour,
			outcome: events.OutcomeChurned, reason: "repeat contact"},
		{name: "a detractor answer again decides nothing", events: []events.Interaction{{Type: "survey.responded", Attributes: map[string]any{"survey": "nps", "score": 2.0}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := newFixture(t, loop.Policy{})
			ctx := context.Background()
			if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); err != nil {
				t.Fatal(err)
			}
			for i, in := range c.events {
				in.ID, in.Channel, in.Customer = "evt_later", "shop", events.Customer{Email: "ana@example.com"}
				in.OccurredAt = x.f.DetectedAt.Add(time.Duration(i+1) * time.Hour)
				if err := x.watcher.Observe(ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			if c.wait > 0 {
				x.clock.Set(x.f.DetectedAt.Add(c.wait))
				if err := x.svc.Wake(ctx, loop.WakePrefix+x.f.ID); err != nil {
					t.Fatal(err)
				}
			}
			r := x.record(t)
			if r.Outcome != c.outcome || r.Reason != c.reason {
				t.Fatalf("outcome %q (%q), want %q (%q)", r.Outcome, r.Reason, c.outcome, c.reason)
			}
			pub := x.bus.types()
			if c.outcome != "" && (len(pub) != 1 || pub[0] != events.TypeFailureOutcome) || c.outcome == "" && len(pub) != 0 {
				t.Fatalf("published %v", pub)
			}
			if ids, _ := x.store.OfCustomer(ctx, "cus_1"); c.outcome != "" && len(ids) != 0 {
				t.Fatalf("decided loop still watched: %v", ids)
			}
		})
	}
}

func TestEventsBeforeTheFailureDecideNothing(t *testing.T) {
	x := newFixture(t, loop.Policy{})
	ctx := context.Background()
	if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); err != nil {
		t.Fatal(err)
	}
	if err := x.watcher.Observe(ctx, x.interaction("payment.succeeded", -time.Minute, nil)); err != nil {
		t.Fatal(err)
	}
	if r := x.record(t); r.Decided() {
		t.Fatalf("an earlier payment decided %+v", r)
	}
}

type reminders struct{ sent []int }

func (r *reminders) RemindAcknowledged(_ context.Context, _ events.Failure, n int) error {
	r.sent = append(r.sent, n)
	return nil
}

func TestAcknowledgedFailureReminded(t *testing.T) {
	x := newFixture(t, loop.Policy{AckReminder: 4 * time.Hour})
	rem := &reminders{}
	x.svc.Reminder = rem
	ctx := context.Background()
	if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); err != nil {
		t.Fatal(err)
	}
	x.clock.Advance(time.Hour)
	acked, err := x.watcher.Resolver.(*failure.Service).Acknowledge(ctx, x.f.ID, "ann", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := x.svc.Observe(ctx, events.TypeFailureAcknowledged, acked); err != nil {
		t.Fatal(err)
	}
	due := acked.History[1].At.Add(4 * time.Hour)
	x.clock.Set(due.Add(-time.Minute))
	if err := x.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := x.wakes.at[loop.WakePrefix+x.f.ID]; !got.Equal(due) {
		t.Fatalf("wake-up at %s, want the reminder at %s", got, due)
	}
	x.clock.Set(due)
	for range 2 {
		if err := x.svc.Wake(ctx, loop.WakePrefix+x.f.ID); err != nil {
			t.Fatal(err)
		}
	}
	x.clock.Set(due.Add(4 * time.Hour))
	if err := x.svc.Wake(ctx, loop.WakePrefix+x.f.ID); err != nil {
		t.Fatal(err)
	}
	if len(rem.sent) != 2 || rem.sent[0] != 1 || rem.sent[1] != 2 {
		t.Fatalf("reminders %v, want 1 then 2", rem.sent)
	}
	// Resolved, it is reminded no more.
	resolved, _ := x.watcher.Resolver.Resolve(ctx, x.f.ID, "ann", "")
	if err := x.svc.Observe(ctx, events.TypeFailureResolved, resolved); err != nil {
		t.Fatal(err)
	}
	x.clock.Advance(8 * time.Hour)
	if err := x.svc.Wake(ctx, loop.WakePrefix+x.f.ID); err != nil || len(rem.sent) != 2 {
		t.Fatalf("reminded after resolution: %v %v", rem.sent, err)
	}
}

func TestQuietFailureAutoResolved(t *testing.T) {
	x := newFixture(t, loop.Policy{AutoResolve: 24 * time.Hour})
	x.svc.Resolver = x.watcher.Resolver
	ctx := context.Background()
	if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); err != nil {
		t.Fatal(err)
	}
	// The condition recurs after 20h: the failure stays open at 24h and is
	// resolved 24h after the recurrence.
	x.failures.Repeat(x.f.ID, x.f.DetectedAt.Add(20*time.Hour))
	x.clock.Set(x.f.DetectedAt.Add(24 * time.Hour))
	if err := x.svc.Wake(ctx, loop.WakePrefix+x.f.ID); err != nil {
		t.Fatal(err)
	}
	if f, _ := x.failures.Get(ctx, x.f.ID); f.State != failure.Open {
		t.Fatalf("resolved %s although it recurred", f.State)
	}
	if ids, _ := x.store.Due(ctx, x.f.DetectedAt.Add(44*time.Hour-time.Second), 10); len(ids) != 0 {
		t.Fatalf("due before 24h after the recurrence: %v", ids)
	}
	// The sweep at the instant resolves it.
	x.clock.Set(x.f.DetectedAt.Add(44 * time.Hour))
	if err := x.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	f, _ := x.failures.Get(ctx, x.f.ID)
	if f.State != failure.Resolved || f.History[len(f.History)-1].By != "ocx" {
		t.Fatalf("failure %s, history %+v", f.State, f.History)
	}
}

type routeAsks []string

func (r routeAsks) Actions(events.Failure) []string { return r }

func TestRouteAsksForTheTicket(t *testing.T) {
	x := newFixture(t, loop.Policy{})
	x.svc.Routes = routeAsks{loop.ActionZendeskTicket}
	if err := x.svc.Observe(context.Background(), events.TypeFailureDetected, x.f); err != nil {
		t.Fatal(err)
	}
	if n := len(x.zd.Tickets()); n != 1 || x.record(t).TicketID == "" {
		t.Fatalf("%d tickets for a failure whose route asks for one", n)
	}
}

func TestClosedTicketResolvesTheFailure(t *testing.T) {
	x := newFixture(t, loop.Policy{Actions: []string{loop.ActionZendeskTicket}})
	ctx := context.Background()
	if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); err != nil {
		t.Fatal(err)
	}
	// A status change to anything but closed resolves nothing.
	if err := x.watcher.Observe(ctx, x.interaction("ticket.status_changed", time.Hour, map[string]any{"ticket_id": "35436", "status": "pending"})); err != nil {
		t.Fatal(err)
	}
	if f, _ := x.failures.Get(ctx, x.f.ID); f.State != failure.Open {
		t.Fatalf("pending ticket: failure %s", f.State)
	}
	if err := x.watcher.Observe(ctx, x.interaction("ticket.status_changed", 2*time.Hour, map[string]any{"ticket_id": "35436", "status": "closed"})); err != nil {
		t.Fatal(err)
	}
	f, _ := x.failures.Get(ctx, x.f.ID)
	if f.State != failure.Resolved || f.History[len(f.History)-1].Note != "Zendesk ticket 35436 was closed" {
		t.Fatalf("closed ticket: failure %s %+v", f.State, f.History)
	}
}

// Zendesk creates the ticket but its answer is lost: the retry sends the
// same idempotency key and is answered with that ticket, not a new one.
func TestLostAnswerFindsTheSameTicket(t *testing.T) {
	x := newFixture(t, loop.Policy{Actions: []string{loop.ActionZendeskTicket}})
	ctx := context.Background()
	x.zd.LoseNextAnswer()
	var later *loop.RetryLater
	if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); !errors.As(err, &later) {
		t.Fatalf("got %v, want a retryable error for the lost answer", err)
	}
	if n := len(x.zd.Tickets()); n != 1 || x.record(t).TicketID != "" {
		t.Fatalf("%d tickets at Zendesk, loop %+v: want one created and none recorded", n, x.record(t))
	}
	if err := x.svc.Observe(ctx, events.TypeFailureDetected, x.f); err != nil {
		t.Fatal(err)
	}
	if n, id := len(x.zd.Tickets()), x.record(t).TicketID; n != 1 || id != "35436" || x.zd.Requests() != 2 {
		t.Fatalf("%d tickets, recorded %q after %d requests: want the first ticket", n, id, x.zd.Requests())
	}
}
