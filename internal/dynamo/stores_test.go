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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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

	if seen, err := l.Seen(ctx, "app", "msg_1"); err != nil || seen.Done {
		t.Fatalf("unknown delivery = %+v, %v", seen, err)
	}
	if err := l.Complete(ctx, "app", "msg_1", []string{"evt_a", "evt_b"}, "order.created", now); err != nil {
		t.Fatal(err)
	}
	seen, err := l.Seen(ctx, "app", "msg_1")
	if err != nil || !seen.Done || len(seen.EventIDs) != 2 || seen.EventIDs[1] != "evt_b" || seen.Topic != "order.created" {
		t.Fatalf("done delivery = %+v, %v", seen, err)
	}
	// Two attempts that raced complete with the same ids: the second
	// write leaves the record as the first did.
	if err := l.Complete(ctx, "app", "msg_1", []string{"evt_a", "evt_b"}, "order.created", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if again, _ := l.Seen(ctx, "app", "msg_1"); !again.Done || len(again.EventIDs) != 2 {
		t.Fatalf("after a second completion = %+v", again)
	}
	// A record an attempt left claimed before claims were dropped is not
	// done: the delivery is processed again.
	claimed := map[string]ddb.AttributeValue{
		topology.PK: dynamo.AttrS("delivery#app#msg_old"), topology.SK: dynamo.AttrS("delivery"), "state": dynamo.AttrS("claimed"),
	}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(names[topology.TableIntake]), Item: claimed}); err != nil {
		t.Fatal(err)
	}
	if seen, err := l.Seen(ctx, "app", "msg_old"); err != nil || seen.Done {
		t.Fatalf("claimed record = %+v, %v, want not done", seen, err)
	}
	// The same delivery id on another channel is another delivery.
	if seen, _ := l.Seen(ctx, "shop", "msg_1"); seen.Done {
		t.Fatalf("other channel's delivery = %+v", seen)
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
