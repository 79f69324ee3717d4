package dynamo_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo/journeystore"

	"github.com/ocxhq/ocx/internal/dynamo"

	"github.com/ocxhq/ocx/internal/dynamo/intakestore"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
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
	if err := dynamo.CreateTables(context.Background(), c, names); err != nil {
		t.Fatal(err)
	}
	// Creating again is a no-op, as the local stack relies on after a restore.
	if err := dynamo.CreateTables(context.Background(), c, names); err != nil {
		t.Fatalf("second CreateTables: %v", err)
	}
	return c, names
}

func TestDeliveryLedger(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	l := intakestore.NewLedger(c, names[topology.TableIntake])
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
	if err := l.Complete(ctx, "app", "msg_1", []string{"evt_a", "evt_b"}, "order.created", now); err != nil {
		t.Fatal(err)
	}
	cl, err := l.Claim(ctx, "app", "msg_1", now.Add(time.Hour), 30*time.Second)
	if err != nil || !cl.Done || len(cl.EventIDs) != 2 || cl.EventIDs[1] != "evt_b" || cl.Topic != "order.created" {
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
	st := journeystore.NewCustomers(c, names[topology.TableCustomers], names[topology.TableMetrics])
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
	st := journeystore.NewCustomers(c, names[topology.TableCustomers], names[topology.TableMetrics])
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
	cid := identity.CustomerIDFor(identity.Key("app:u1"))
	prof, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &[]string{names[topology.TableCustomers]}[0], Key: dynamo.ItemKey("customer#"+cid, "profile")})
	if err != nil {
		t.Fatal(err)
	}
	if got := dynamo.GetN(prof.Item, "interactions"); got != 10 {
		t.Fatalf("profile counts %d interactions, want 10", got)
	}
}
