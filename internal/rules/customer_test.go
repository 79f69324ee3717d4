package rules

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
)

// linked answers as the identity items would after the journey function
// linked every key in owner; other keys are unknown.
type linked struct {
	owner map[identity.Key]string
	calls int
	err   error
}

func (l *linked) CustomerOf(_ context.Context, keys []identity.Key) (string, error) {
	l.calls++
	if l.err != nil {
		return "", l.err
	}
	for _, k := range keys {
		if c := l.owner[k]; c != "" {
			return c, nil
		}
	}
	return "new-" + string(keys[0]), nil
}

const repeatAndPerTicket = `rules:
  - id: repeat
    kind: count
    description: three contacts in a day
    severity: warning
    team: cx
    threshold: 3
    window: 1d
    pattern: {detail-type: [ticket.created, message.received]}
  - id: per-ticket
    kind: count
    description: a ticket opened twice
    severity: warning
    team: cx
    key: detail.attributes.ticket_id
    threshold: 2
    window: 1d
    pattern: {detail-type: [ticket.created]}
`

// One person by email, by phone and by a channel's id is one key to a
// per-customer rule once the keys are linked; a rule keyed on something
// else never asks for the customer.
func TestPerCustomerRulesKeyOnTheResolvedCustomer(t *testing.T) {
	h := newHarness(t, loadRules(t, repeatAndPerTicket), nil)
	l := &linked{owner: map[identity.Key]string{"email:ann@example.com": "cus_ann", "phone:+14017122661": "cus_ann"}}
	h.svc.Customers = l
	ctx := context.Background()
	at := DefaultTestStart
	send := func(id, typ string, c events.Customer, attrs map[string]any) {
		t.Helper()
		ev := interaction(t, id, typ, "", at, attrs)
		ev.Detail = []byte(strings.Replace(string(ev.Detail), `"customer":{}`, `"customer":`+string(mustJSON(t, c)), 1))
		if err := h.svc.Handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Minute)
	}
	send("c1", "ticket.created", events.Customer{Email: "Ann@Example.com"}, map[string]any{"ticket_id": "1"})
	send("c2", "message.received", events.Customer{Phone: "+1 401 712 2661"}, nil)
	if got := h.mem.All(); len(got) != 0 {
		t.Fatalf("failures after two contacts: %+v", got)
	}
	send("c3", "message.received", events.Customer{Phone: "+14017122661"}, nil)
	all := h.mem.All()
	if len(all) != 1 || all[0].RuleID != "repeat" || all[0].Key != "customer_id=cus_ann" || all[0].CustomerID != "cus_ann" {
		t.Fatalf("failures %+v, want one repeat contact of cus_ann", all)
	}
	// A stranger is the customer their strongest key would create.
	calls := l.calls
	send("c4", "message.received", events.Customer{Email: "bo@example.com"}, nil)
	if l.calls != calls+1 {
		t.Fatalf("resolver called %d times for one event", l.calls-calls)
	}
	// A journey event carries its customer: nothing to resolve.
	calls = l.calls
	j := interaction(t, "j1", "ticket.created", "", at, map[string]any{"ticket_id": "2"})
	j.Detail = []byte(strings.Replace(string(j.Detail), `"customer":{}`, `"customer":{"email":"ann@example.com"},"customer_id":"cus_given"`, 1))
	ev, err := DecodeEvent(j)
	if err != nil {
		t.Fatal(err)
	}
	hits, _ := h.svc.Engine.Match(ev)
	if err := h.svc.resolveCustomer(ctx, &ev, hits); err != nil || ev.CustomerID != "cus_given" || l.calls != calls {
		t.Fatalf("customer %q after %d calls (err %v), want cus_given and no call", ev.CustomerID, l.calls-calls, err)
	}
	// An unreadable identity table fails the event, so it is retried.
	l.err = errors.New("throttled")
	ev4 := interaction(t, "c5", "message.received", "ann@example.com", at, nil)
	if err := h.svc.Handle(ctx, ev4); err == nil || !strings.Contains(err.Error(), "resolve the customer") {
		t.Fatalf("Handle with a failing resolver: %v", err)
	}
}

// Rules keyed on something other than the customer do not ask for it.
func TestKeysOnCustomer(t *testing.T) {
	want := map[string]bool{"repeat": true, "per-ticket": false}
	for _, r := range loadRules(t, repeatAndPerTicket) {
		if r.keysOnCustomer() != want[r.ID] {
			t.Errorf("rule %s: keysOnCustomer %v", r.ID, !want[r.ID])
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
