package dynamo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/rollup"
	"github.com/ocxhq/ocx/internal/topology"
)

var tableSeq atomic.Int64

// newTables provisions a fresh set of topology tables for one test.
func newTables(t *testing.T) (*dynamodb.Client, map[string]string) {
	t.Helper()
	c := dynamodb.NewFromConfig(mototest.Config(t))
	names := map[string]string{}
	prefix := fmt.Sprintf("t%d-", tableSeq.Add(1))
	for _, tb := range topology.Tables {
		names[tb.Name] = prefix + tb.Name
	}
	if err := CreateTables(context.Background(), c, names); err != nil {
		t.Fatal(err)
	}
	// Creating again is a no-op, as the local stack relies on after a restore.
	if err := CreateTables(context.Background(), c, names); err != nil {
		t.Fatalf("second CreateTables: %v", err)
	}
	return c, names
}

func TestDeliveryLedger(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	l := NewDeliveryLedger(c, names[topology.TableIntake])
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

	if cl, err := l.Claim(ctx, "app", "msg_1", now, 30*time.Second); err != nil || cl.Done || cl.Busy {
		t.Fatalf("first claim = %+v, %v", cl, err)
	}
	if cl, _ := l.Claim(ctx, "app", "msg_1", now.Add(time.Second), 30*time.Second); !cl.Busy {
		t.Fatalf("claim during a live lease = %+v, want busy", cl)
	}
	if cl, _ := l.Claim(ctx, "app", "msg_1", now.Add(31*time.Second), 30*time.Second); cl.Busy || cl.Done {
		t.Fatalf("claim after the lease expired = %+v, want granted", cl)
	}
	if err := l.Release(ctx, "app", "msg_1"); err != nil {
		t.Fatal(err)
	}
	if cl, _ := l.Claim(ctx, "app", "msg_1", now, 30*time.Second); cl.Busy || cl.Done {
		t.Fatalf("claim after release = %+v, want granted", cl)
	}
	if err := l.Complete(ctx, "app", "msg_1", []string{"evt_a", "evt_b"}, now); err != nil {
		t.Fatal(err)
	}
	cl, err := l.Claim(ctx, "app", "msg_1", now.Add(time.Hour), 30*time.Second)
	if err != nil || !cl.Done || len(cl.EventIDs) != 2 || cl.EventIDs[1] != "evt_b" {
		t.Fatalf("claim of a done delivery = %+v, %v", cl, err)
	}
	// Release never undoes a completed delivery.
	if err := l.Release(ctx, "app", "msg_1"); err != nil {
		t.Fatal(err)
	}
	if cl, _ := l.Claim(ctx, "app", "msg_1", now, 30*time.Second); !cl.Done {
		t.Fatalf("done delivery was released: %+v", cl)
	}
	// The same delivery id on another channel is another delivery.
	if cl, _ := l.Claim(ctx, "shop", "msg_1", now, 30*time.Second); cl.Done || cl.Busy {
		t.Fatalf("other channel's claim = %+v", cl)
	}
}

func nps(id string, score int, at time.Time, cust events.Customer) events.Interaction {
	return events.Interaction{
		ID: id, Type: events.TypeSurveyResponded, Channel: "app", OccurredAt: at, ReceivedAt: at,
		Customer: cust, Attributes: map[string]any{"survey": "nps", "score": float64(score)},
	}
}

func TestResolveLinksKeysToOneCustomer(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	st := NewCustomers(c, names[topology.TableCustomers], names[topology.TableMetrics])
	now := time.Now()
	first, err := st.Resolve(ctx, identity.Keys("app", events.Customer{ID: "u1"}), now)
	if err != nil {
		t.Fatal(err)
	}
	both, err := st.Resolve(ctx, identity.Keys("app", events.Customer{ID: "u1", Email: "Ann@Example.com"}), now)
	if err != nil {
		t.Fatal(err)
	}
	byEmail, err := st.Resolve(ctx, identity.Keys("zendesk", events.Customer{Email: "ann@example.com"}), now)
	if err != nil {
		t.Fatal(err)
	}
	if first != both || both != byEmail {
		t.Fatalf("one person, three customers: %s %s %s", first, both, byEmail)
	}
	other, _ := st.Resolve(ctx, identity.Keys("app", events.Customer{ID: "u2"}), now)
	if other == first {
		t.Fatal("two people resolved to one customer")
	}
}

func journeySvc(st journey.Store) *journey.Service {
	return &journey.Service{Store: st, Retention: 24 * time.Hour, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestApplyIsIdempotentAndConcurrencySafe(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	st := NewCustomers(c, names[topology.TableCustomers], names[topology.TableMetrics])
	svc := journeySvc(st)
	at := time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)
	cust := events.Customer{ID: "u1"}

	// Ten different events for one customer at once: no update is lost.
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	evs := make([]events.Interaction, 10)
	for i := range evs {
		evs[i] = nps(fmt.Sprintf("evt_%d", i), i, at, cust)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- svc.Apply(ctx, evs[i])
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Every event redelivered changes nothing. (Redeliveries race here one
	// at a time: moto does not isolate concurrent transactions on one item
	// the way DynamoDB does.)
	for _, ev := range evs {
		if err := svc.Apply(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	cid := CustomerIDFor(identity.Key("app:u1"))
	prof, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &[]string{names[topology.TableCustomers]}[0], Key: key("customer#"+cid, "profile")})
	if err != nil {
		t.Fatal(err)
	}
	if got := num(prof.Item, "interactions"); got != 10 {
		t.Fatalf("profile counts %d interactions, want 10", got)
	}
	m := NewMetrics(c, names[topology.TableMetrics])
	cs, err := m.Counters(ctx, "survey.nps", at.Truncate(time.Hour), at.Truncate(time.Hour).Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, cn := range cs {
		for _, v := range cn.Fields {
			total += v
		}
	}
	if total != 10 {
		t.Fatalf("NPS counters hold %d answers, want 10", total)
	}
}

func TestRollupIsIncrementalAndExact(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	st := NewCustomers(c, names[topology.TableCustomers], names[topology.TableMetrics])
	svc := journeySvc(st)
	m := NewMetrics(c, names[topology.TableMetrics])
	ru := &rollup.Service{Store: m, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	h8, h9 := day.Add(8*time.Hour), day.Add(9*time.Hour)

	// Hour 8: 6 (detractor), 7 (passive), 9 (promoter) -> 0. Hour 9: 3 -> -100.
	for i, e := range []events.Interaction{
		nps("e1", 6, h8.Add(time.Minute), events.Customer{ID: "a"}),
		nps("e2", 7, h8.Add(2*time.Minute), events.Customer{ID: "b"}),
		nps("e3", 9, h8.Add(59*time.Minute), events.Customer{ID: "c"}),
		nps("e4", 3, h9, events.Customer{ID: "d"}),
	} {
		if err := svc.Apply(ctx, e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	res, err := ru.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counters == 0 {
		t.Fatal("rollup saw no changed counters")
	}
	wantSeries(t, m, "nps", rollup.Hour, day, map[time.Time][2]float64{h8: {0, 3}, h9: {-100, 1}})
	wantSeries(t, m, "nps", rollup.Day, day, map[time.Time][2]float64{day: {-25, 4}})

	// Nothing changed: the next run reads nothing.
	if res, err := ru.Run(ctx); err != nil || res.Counters != 0 || res.Points != 0 {
		t.Fatalf("idle run = %+v, %v; want nothing read", res, err)
	}

	// A late promoter for hour 8 arrives: only its hour and day are redone.
	if err := svc.Apply(ctx, nps("e5", 10, h8.Add(30*time.Minute), events.Customer{ID: "e"})); err != nil {
		t.Fatal(err)
	}
	res, err = ru.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Points != 4 { // nps and interactions, hour and day each
		t.Fatalf("late event rollup wrote %d points, want 4", res.Points)
	}
	wantSeries(t, m, "nps", rollup.Hour, day, map[time.Time][2]float64{h8: {25, 4}, h9: {-100, 1}})
	wantSeries(t, m, "nps", rollup.Day, day, map[time.Time][2]float64{day: {0, 5}})
	wantSeries(t, m, "interactions", rollup.Day, day, map[time.Time][2]float64{day: {5, 5}})
}

func wantSeries(t *testing.T, m *Metrics, metric, gran string, day time.Time, want map[time.Time][2]float64) {
	t.Helper()
	pts, err := m.Series(context.Background(), metric, gran, day, day.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != len(want) {
		t.Fatalf("%s %s: %d points %+v, want %d", metric, gran, len(pts), pts, len(want))
	}
	for _, p := range pts {
		w, ok := want[p.Start]
		if !ok || p.Value != w[0] || float64(p.N) != w[1] {
			t.Errorf("%s %s at %s = %v (n=%d), want %v", metric, gran, p.Start.Format(time.RFC3339), p.Value, p.N, w)
		}
	}
}

func TestFailureCreateIsOnce(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	f := NewFailures(c, names[topology.TableFailures])
	fl := events.Failure{ID: "flr_1", RuleID: "nps.detractor", Team: "cx", Severity: "warning", DetectedAt: time.Now()}
	if created, pub, err := f.Create(ctx, fl); err != nil || !created || pub {
		t.Fatalf("first Create = %v %v %v", created, pub, err)
	}
	if created, pub, err := f.Create(ctx, fl); err != nil || created || pub {
		t.Fatalf("second Create = %v %v %v, want existing and unpublished", created, pub, err)
	}
	if err := f.MarkPublished(ctx, fl.ID); err != nil {
		t.Fatal(err)
	}
	if _, pub, _ := f.Create(ctx, fl); !pub {
		t.Fatal("Create after MarkPublished does not report published")
	}
	got, ok, err := f.Get(ctx, fl.ID)
	if err != nil || !ok || got.RuleID != "nps.detractor" {
		t.Fatalf("Get = %+v %v %v", got, ok, err)
	}
}
