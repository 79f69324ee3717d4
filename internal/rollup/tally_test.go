package rollup

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
)

// Events of one customer counted concurrently race on the customer's
// contact record; the losers retry, so every contact counts once.
func TestConcurrentContactsOfOneCustomer(t *testing.T) {
	w := newWorld(t)
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			w.interaction(fmt.Sprint("c", i), "ticket.created", "zendesk", at.Add(time.Duration(i)*time.Minute), events.Customer{Email: "ann@example.com"}, nil)
		})
	}
	wg.Wait()
	w.run()
	p := w.query(q{metric: "contacts", gran: Day, from: at, to: at.Add(time.Hour)}).Series[0].Points[0]
	if p.N != 20 || p.Parts["repeat"] != 19 || p.Parts["followed"] != 19 {
		t.Fatalf("contacts %+v, want 20 with 19 repeats and 19 followed", p)
	}
}

// Contacts are keyed by the customer the journey function resolved, so
// a contact by email and one by phone of one person are one history.
func TestContactsFollowResolvedCustomer(t *testing.T) {
	w := newWorld(t)
	w.store.Owners[identity.Key("email:ann@example.com")] = "cus_ann"
	w.store.Owners[identity.Key("phone:+447946000000")] = "cus_ann"
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	w.interaction("z1", "ticket.created", "zendesk", at, events.Customer{Email: "ann@example.com"}, nil)
	w.interaction("t1", "message.received", "twilio", at.Add(time.Hour), events.Customer{Phone: "+44 7946 000000"}, nil)
	w.run()
	p := w.query(q{metric: "channel_hop_rate", gran: Day, from: at, to: at.Add(time.Hour)}).Series[0].Points[0]
	if p.Parts["hop"] != 1 || p.N != 2 || p.Value != 50 {
		t.Fatalf("hop %+v", p)
	}
}

func TestCountSkipsAndRefuses(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// Events the metrics do not read count nothing and are not errors.
	for _, env := range []events.Envelope{
		{Source: "aws.events", DetailType: "Scheduled Event", Detail: []byte(`{}`)},
		{Source: events.SourceRules, DetailType: "failure.escalated", Detail: []byte(`{}`)},
	} {
		if err := w.tally.Count(ctx, env); err != nil {
			t.Errorf("%s: %v", env.DetailType, err)
		}
	}
	// A malformed one is refused, so the bus retries it and then parks it
	// in the dead-letter queue where it can be seen.
	err := w.tally.Count(ctx, events.Envelope{ID: "e1", Source: events.SourceJourney, DetailType: events.TypeJourneyStarted, Detail: []byte(`{"journey":"x"}`)})
	if err == nil || !strings.Contains(err.Error(), "journey, instance and stage are required") {
		t.Errorf("malformed journey event: %v", err)
	}
	if res := w.run(); res.Counters != 0 {
		t.Errorf("%d counters changed", res.Counters)
	}
}
