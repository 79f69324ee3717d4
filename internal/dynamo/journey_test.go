package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo/customerstore"

	"github.com/ocxhq/ocx/internal/dynamo"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/dynamo/journeystore"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/topology"
)

// recorder is a bus that keeps what is published.
type recorder struct {
	mu  sync.Mutex
	evs []events.JourneyEvent
}

func (r *recorder) Publish(_ context.Context, evs ...events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range evs {
		r.evs = append(r.evs, e.Detail.(events.JourneyEvent))
	}
	return nil
}

func (r *recorder) all() []events.JourneyEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.JourneyEvent(nil), r.evs...)
}

// world is one test's tables, journey service and customer service.
type world struct {
	store *journeystore.Customers
	custs *customerstore.Store
	svc   *journey.Service
	cust  *customer.Service
	bus   *recorder
	// client and tables reach the items themselves.
	client *dynamodb.Client
	tables map[string]string
}

// provision creates a fresh set of topology tables for a test or benchmark,
// on a client the caller may instrument.
func provision(t testing.TB, c *dynamodb.Client) map[string]string {
	t.Helper()
	names := map[string]string{}
	prefix := fmt.Sprintf("j%d-", tableSeq.Add(1))
	for _, tb := range topology.Tables {
		names[tb.Name] = prefix + tb.Name
	}
	if err := dynamo.CreateTables(context.Background(), c, names); err != nil {
		t.Fatal(err)
	}
	// moto copies every table on each transaction, so tables left behind
	// slow down every later test in the binary.
	t.Cleanup(func() {
		for _, name := range names {
			_, _ = c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		}
	})
	return names
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldOn(t, dynamodb.NewFromConfig(mototest.Config(t)))
}

func newWorldOn(t testing.TB, c *dynamodb.Client) *world {
	t.Helper()
	names := provision(t, c)
	defs, err := journey.Load(config.Shipped, "journeys", nil)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := journey.NewCatalog(defs)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := journeystore.NewCustomers(c, names[topology.TableCustomers], names[topology.TableMetrics])
	rec := &recorder{}
	return &world{
		store: st, custs: customerstore.New(c, names[topology.TableCustomers]), bus: rec, client: c, tables: names,
		svc:  &journey.Service{Store: st, Journeys: cat, Bus: rec, Retention: 400 * 24 * time.Hour, Now: time.Now, Log: log},
		cust: &customer.Service{Store: customerstore.New(c, names[topology.TableCustomers]), Now: time.Now, Log: log},
	}
}

var evtSeq atomic.Int64

func event(typ, channel string, cust events.Customer, at time.Time, attrs map[string]any) events.Interaction {
	if attrs == nil {
		attrs = map[string]any{}
	}
	return events.Interaction{
		ID: fmt.Sprintf("evt_%026x", evtSeq.Add(1)), Type: typ, Channel: channel, OccurredAt: at.UTC(), ReceivedAt: at.UTC(),
		Customer: cust, Attributes: attrs, DeliveryID: "d", Raw: "s3://archive/raw/" + channel + "/x.json",
	}
}

func (w *world) apply(t testing.TB, evs ...events.Interaction) {
	t.Helper()
	for _, ev := range evs {
		if err := w.svc.Apply(context.Background(), ev); err != nil {
			t.Fatalf("apply %s %s: %v", ev.Type, ev.ID, err)
		}
	}
}

func (w *world) owner(t testing.TB, k identity.Key) string {
	t.Helper()
	id, err := w.custs.Owner(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (w *world) view(t testing.TB, id string) customer.View {
	t.Helper()
	v, err := w.cust.Get(context.Background(), id, 100)
	if err != nil {
		t.Fatalf("view %s: %v", id, err)
	}
	return v
}

func keysOfView(v customer.View) []string {
	var out []string
	for _, i := range v.Identities {
		out = append(out, string(i.Key))
	}
	sort.Strings(out)
	return out
}

func typesOfView(v customer.View) []string {
	var out []string
	for _, i := range v.Interactions {
		out = append(out, i.Channel+":"+i.Type)
	}
	sort.Strings(out)
	return out
}

func journeysOfView(v customer.View) []string {
	var out []string
	for _, j := range v.Journeys {
		out = append(out, j.Journey+"/"+j.Instance+"="+j.Stage)
	}
	sort.Strings(out)
	return out
}

func eq(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

const (
	email = identity.Key("email:ann@example.com")
	phone = identity.Key("phone:+14017122661")
)

// One customer across channels, at the store: a ticket from an email and
// an SMS from a phone are two customers until an order carrying both joins
// them; undoing the merge gives the SMS side back everything that was its.
func TestLinkMergeAndUnmerge(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	t0 := time.Now().UTC().Add(-time.Hour)

	ticket := event("ticket.created", "zendesk", events.Customer{ID: "8447388090495", Email: "Ann@Example.com"}, t0, map[string]any{"ticket_id": "5158"})
	sms := event("message.received", "twilio", events.Customer{Phone: "+14017122661"}, t0.Add(time.Minute), nil)
	w.apply(t, ticket, sms)
	z, tw := w.owner(t, email), w.owner(t, phone)
	if z == "" || tw == "" || z == tw {
		t.Fatalf("before the order: email -> %q, phone -> %q; want two customers", z, tw)
	}

	order := event("order.created", "shopify", events.Customer{ID: "115310627314723954", Email: "ann@example.com", Phone: "+14017122661"},
		t0.Add(2*time.Minute), map[string]any{"order_id": "820982911946154508", "total": 12.5, "currency": "EUR"})
	w.apply(t, order)
	for _, k := range []identity.Key{email, phone, "shopify:115310627314723954", "zendesk:8447388090495"} {
		if got := w.owner(t, k); got != z {
			t.Fatalf("after the order %s -> %s, want the survivor %s (the older customer)", k, got, z)
		}
	}
	// After the merge: a second SMS and a failed payment from the phone.
	sms2 := event("message.received", "twilio", events.Customer{Phone: "+14017122661"}, t0.Add(3*time.Minute), nil)
	pay := event("payment.failed", "stripe", events.Customer{ID: "cus_Nf", Phone: "+14017122661"}, t0.Add(4*time.Minute),
		map[string]any{"invoice_id": "in_1", "attempt_count": 1})
	w.apply(t, sms2, pay)

	v := w.view(t, tw)
	if v.ID != z || v.RequestedID != tw {
		t.Fatalf("view of the absorbed id = %s (requested %s), want survivor %s", v.ID, v.RequestedID, z)
	}
	if want := []string{"email:ann@example.com", "phone:+14017122661", "shopify:115310627314723954", "stripe:cus_Nf", "zendesk:8447388090495"}; !eq(keysOfView(v), want) {
		t.Fatalf("merged identities %v, want %v", keysOfView(v), want)
	}
	if got := typesOfView(v); len(got) != 5 || v.InteractionsTotal != 5 {
		t.Fatalf("merged interactions %v (total %d), want all 5", got, v.InteractionsTotal)
	}
	if want := []string{"failed-payment-recovery/in_1=failed", "order-to-delivery/820982911946154508=placed", "support-case/5158=new"}; !eq(journeysOfView(v), want) {
		t.Fatalf("merged journeys %v, want %v", journeysOfView(v), want)
	}
	if len(v.Merges) != 1 || v.Merges[0].Absorbed != tw || v.Merges[0].Cause.EventID != order.ID || v.Merges[0].State != customer.MergeMerged {
		t.Fatalf("merge history %+v", v.Merges)
	}

	res, err := w.cust.Unmerge(ctx, tw)
	if err != nil {
		t.Fatal(err)
	}
	if res.Interactions != 2 || res.Journeys != 1 || len(res.Returned) != 1 || res.Returned[0] != "stripe:cus_Nf" {
		t.Fatalf("unmerge result %+v: want the 2nd SMS, the payment and its journey, and the stripe key back", res)
	}
	vz, vt := w.view(t, z), w.view(t, tw)
	if want := []string{"email:ann@example.com", "shopify:115310627314723954", "zendesk:8447388090495"}; !eq(keysOfView(vz), want) {
		t.Errorf("survivor keeps %v, want %v", keysOfView(vz), want)
	}
	if want := []string{"phone:+14017122661", "stripe:cus_Nf"}; !eq(keysOfView(vt), want) {
		t.Errorf("absorbed gets back %v, want %v", keysOfView(vt), want)
	}
	if want := []string{"shopify:order.created", "zendesk:ticket.created"}; !eq(typesOfView(vz), want) || vz.InteractionsTotal != 2 {
		t.Errorf("survivor interactions %v (total %d), want %v", typesOfView(vz), vz.InteractionsTotal, want)
	}
	if want := []string{"stripe:payment.failed", "twilio:message.received", "twilio:message.received"}; !eq(typesOfView(vt), want) || vt.InteractionsTotal != 3 {
		t.Errorf("absorbed interactions %v (total %d), want %v", typesOfView(vt), vt.InteractionsTotal, want)
	}
	if want := []string{"failed-payment-recovery/in_1=failed"}; !eq(journeysOfView(vt), want) {
		t.Errorf("absorbed journeys %v, want %v", journeysOfView(vt), want)
	}
	if want := []string{"order-to-delivery/820982911946154508=placed", "support-case/5158=new"}; !eq(journeysOfView(vz), want) {
		t.Errorf("survivor journeys %v, want %v", journeysOfView(vz), want)
	}
	if vz.Merges[0].State != customer.MergeUnmerged || vz.Merges[0].UnmergedAt == nil {
		t.Errorf("merge record after unmerge: %+v", vz.Merges[0])
	}

	// Kept apart: another event with both keys does not merge them again;
	// it goes to the customer of its strongest key.
	again := event("order.created", "shopify", events.Customer{ID: "115310627314723954", Email: "ann@example.com", Phone: "+14017122661"},
		t0.Add(5*time.Minute), map[string]any{"order_id": "2"})
	w.apply(t, again)
	if w.owner(t, phone) != tw || w.owner(t, email) != z {
		t.Fatal("an event joining unmerged customers merged them again")
	}
	if _, err := w.cust.Unmerge(ctx, tw); !errors.Is(err, customer.ErrNotMerged) {
		t.Fatalf("second unmerge: %v, want ErrNotMerged", err)
	}
}

// Events for both sides of a merge, and the events that merge them, all
// at once: every interaction is recorded exactly once and counted once.
func TestConcurrentEventsAndMergesLoseNothing(t *testing.T) {
	w := newWorld(t)
	at := time.Now().UTC().Add(-time.Hour)
	w.apply(t,
		event("ticket.created", "zendesk", events.Customer{Email: "ann@example.com"}, at, map[string]any{"ticket_id": "1"}),
		event("message.received", "twilio", events.Customer{Phone: "+14017122661"}, at, nil),
	)
	var evs []events.Interaction
	for i := 0; i < 8; i++ {
		evs = append(evs,
			event("ticket.replied", "zendesk", events.Customer{Email: "ann@example.com"}, at.Add(time.Duration(i)*time.Second), map[string]any{"ticket_id": "1", "author": "customer"}),
			event("message.received", "twilio", events.Customer{Phone: "+14017122661"}, at.Add(time.Duration(i)*time.Second), nil),
		)
	}
	for i := 0; i < 3; i++ {
		evs = append(evs, event("order.created", "shopify", events.Customer{ID: fmt.Sprint("c", i), Email: "ann@example.com", Phone: "+14017122661"},
			at.Add(time.Minute), map[string]any{"order_id": fmt.Sprint("o", i)}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(evs)*2)
	for _, ev := range evs {
		wg.Add(2)
		for range 2 { // every event delivered twice, concurrently
			go func() {
				defer wg.Done()
				errs <- w.svc.Apply(context.Background(), ev)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	survivor := w.owner(t, email)
	if w.owner(t, phone) != survivor {
		t.Fatal("the bridging orders did not leave one customer")
	}
	v := w.view(t, survivor)
	want := len(evs) + 2
	if len(v.Interactions) != want || v.InteractionsTotal != int64(want) {
		t.Fatalf("one customer holds %d interactions (profiles count %d), want %d", len(v.Interactions), v.InteractionsTotal, want)
	}
	seen := map[string]bool{}
	for _, it := range v.Interactions {
		if seen[it.ID] {
			t.Fatalf("interaction %s recorded twice", it.ID)
		}
		seen[it.ID] = true
	}
	if len(v.Journeys) != 4 { // the ticket and three orders
		t.Fatalf("journeys %v, want 4", journeysOfView(v))
	}
}

// Duplicates change nothing and late events are placed in history without
// moving a journey back; the SLA due time follows the stage entered.
func TestJourneyProgressionDuplicatesAndLateEvents(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	cust := events.Customer{ID: "8447388090495"}
	created := event("ticket.created", "zendesk", cust, t0, map[string]any{"ticket_id": "5158"})
	answered := event("ticket.replied", "zendesk", cust, t0.Add(90*time.Minute), map[string]any{"ticket_id": "5158", "author": "agent", "public": true})
	customerReply := event("ticket.replied", "zendesk", cust, t0.Add(2*time.Hour), map[string]any{"ticket_id": "5158", "author": "customer", "public": true})
	solved := event("ticket.solved", "zendesk", cust, t0.Add(5*time.Hour), map[string]any{"ticket_id": "5158"})

	// The answer arrives before the ticket, and everything twice.
	w.apply(t, answered, answered, created, customerReply, created)
	ref := journey.Ref{Journey: "support-case", Instance: "5158"}
	insts, err := w.custs.Instances(ctx, []journey.Ref{ref})
	if err != nil {
		t.Fatal(err)
	}
	in := insts[ref]
	if in == nil || in.State.Stage != "responded" || len(in.State.History) != 2 || in.State.History[0].Stage != "new" {
		t.Fatalf("instance %+v: want responded after new", in)
	}
	if due := t0.Add(90 * time.Minute).Add(48 * time.Hour); in.State.SLADueAt == nil || !in.State.SLADueAt.Equal(due) {
		t.Fatalf("sla_due_at %v, want %s (entered responded + 2d)", in.State.SLADueAt, due)
	}
	if v := in.State.History[0]; !v.EnteredAt.Equal(t0) || v.ExitedAt == nil || !v.ExitedAt.Equal(t0.Add(90*time.Minute)) {
		t.Fatalf("late ticket.created not placed first: %+v", v)
	}
	w.apply(t, solved, solved)
	cid := w.owner(t, "zendesk:8447388090495")
	v := w.view(t, cid)
	if v.InteractionsTotal != 4 || len(v.Interactions) != 4 {
		t.Fatalf("%d interactions (total %d), want 4: duplicates were recorded", len(v.Interactions), v.InteractionsTotal)
	}
	if len(v.Journeys) != 1 || v.Journeys[0].Outcome != journey.OutcomeCompleted || v.Journeys[0].SLADueAt != nil {
		t.Fatalf("journey after solved: %+v", v.Journeys)
	}
	// Each transition was announced under one id, whatever was redelivered.
	ids := map[string]string{}
	for _, e := range w.bus.all() {
		if prev, ok := ids[e.ID]; ok && prev != e.Type {
			t.Fatalf("id %s used for %s and %s", e.ID, prev, e.Type)
		}
		ids[e.ID] = e.Type
		if e.CustomerID != cid || e.Journey != "support-case" || e.Instance != "5158" {
			t.Fatalf("journey event %+v", e)
		}
	}
	var types []string
	for _, typ := range ids {
		types = append(types, typ)
	}
	sort.Strings(types)
	if want := []string{"journey.completed", "journey.started"}; !eq(types, want) {
		// The answer came first, so the journey was first seen in
		// "responded"; the late ticket.created is history only.
		t.Fatalf("announced %v, want %v", types, want)
	}
}
