package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/dynamo/journeystore"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
)

// failProfileCount makes the next n updates of a customer's profile fail
// before they are sent: the write that counts an interaction.
func failProfileCount(n *atomic.Int32) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("fail-profile-count", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if u, ok := in.Parameters.(*dynamodb.UpdateItemInput); ok && dynamo.GetS(u.Key, "sk") == "profile" && n.Add(-1) >= 0 {
				return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("injected: the attempt stopped here")
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
	}
}

// Commit writes keys, instances and the interaction one item at a time,
// then counts the event on the profile under a condition that is its
// dedupe. An attempt that stops just before the count leaves everything
// else written; its redelivery applies the event once — one interaction,
// counted once, one step in the journey — and announces the journey events
// the stopped attempt never published, under the ids it would have used;
// a duplicate after that announces them again and counts nothing.
func TestCommitStoppedBeforeItsCountAppliesOnceOnRedelivery(t *testing.T) {
	var fail atomic.Int32
	c := dynamodb.NewFromConfig(mototest.Config(t), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, failProfileCount(&fail))
	})
	w := newWorldOn(t, c)
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	cust := events.Customer{ID: "8447388090495", Email: "ann@example.com"}
	created := event("ticket.created", "zendesk", cust, t0, map[string]any{"ticket_id": "5158"})

	fail.Store(1)
	if err := w.svc.Apply(context.Background(), created); err == nil {
		t.Fatal("the stopped attempt reported success")
	}
	if n := len(w.bus.all()); n != 0 {
		t.Fatalf("the stopped attempt published %d journey events", n)
	}
	cid := w.owner(t, "zendesk:8447388090495")
	if cid == "" {
		t.Fatal("the stopped attempt did not link the keys it wrote first")
	}
	w.apply(t, created) // the redelivery
	w.apply(t, created) // and one more, after the count
	v := w.view(t, cid)
	if v.InteractionsTotal != 1 || len(v.Interactions) != 1 {
		t.Fatalf("%d interactions (total %d), want 1", len(v.Interactions), v.InteractionsTotal)
	}
	ref := journey.Ref{Journey: "support-case", Instance: "5158"}
	insts, err := w.custs.Instances(context.Background(), []journey.Ref{ref})
	if err != nil {
		t.Fatal(err)
	}
	if in := insts[ref]; in == nil || len(in.Steps) != 1 || in.State.Stage != "new" {
		t.Fatalf("instance %+v, want one step in new", insts[ref])
	}
	published := w.bus.all()
	if len(published) != 2 || published[0].Type != events.TypeJourneyStarted || published[1].ID != published[0].ID {
		t.Fatalf("published %+v, want journey.started by the redelivery and again (same id) by the duplicate", published)
	}
}

// A profile keeps the digests of its customer's latest counted events in
// two sets that rotate: a duplicate of an event counted before the newer
// set last filled is still recognised, and the profile stays small.
func TestProfileRecognisesDuplicatesAcrossARotation(t *testing.T) {
	w := newWorld(t)
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	cust := events.Customer{ID: "u-1001"}
	const n = journeystore.RecentCounted + 8
	evs := make([]events.Interaction, n)
	for i := range evs {
		evs[i] = event("ticket.commented", "app", cust, t0.Add(time.Duration(i)*time.Minute), nil)
		w.apply(t, evs[i])
	}
	// The 32nd count filled the newer set and rotated it: these were
	// counted before the rotation, and the last ones after it.
	w.apply(t, evs[0], evs[journeystore.RecentCounted-1], evs[n-1])
	cid := w.owner(t, "app:u-1001")
	if v := w.view(t, cid); v.InteractionsTotal != n {
		t.Fatalf("%d interactions counted, want %d", v.InteractionsTotal, n)
	}
	got, err := w.client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(w.tables["customers"]), Key: journeystore.ProfileKey(cid), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if newer, older := len(dynamo.GetSS(got.Item, "counted")), len(dynamo.GetSS(got.Item, "counted_before")); newer != 8 || older != journeystore.RecentCounted {
		t.Fatalf("the profile keeps %d newer and %d older digests, want 8 and %d", newer, older, journeystore.RecentCounted)
	}
}

// An interaction's event is stored compressed once it is more than a few
// hundred bytes, so a provider's event with many attributes stays inside
// the KB a write unit buys, and reads back whole.
func TestInteractionEventStoredCompressed(t *testing.T) {
	w := newWorld(t)
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	attrs := map[string]any{"order_id": "820982911946154508"}
	for i := range 40 {
		attrs[fmt.Sprintf("line_item_%02d", i)] = fmt.Sprintf("IPod Nano - 8GB, variant 4470658764%02d, quantity 1", i)
	}
	ev := event("order.created", "shopify", events.Customer{ID: "115310627314723954", Email: "bob.norman@mail.example.com"}, t0, attrs)
	w.apply(t, ev)
	cid := w.owner(t, "shopify:115310627314723954")
	got, err := w.client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(w.tables["customers"]),
		Key: dynamo.ItemKey(journeystore.CustomerPK(cid), journeystore.InteractionSK(ev)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	stored, ok := got.Item["event"].(*ddbtypes.AttributeValueMemberB)
	if !ok {
		t.Fatalf("event stored as %T, want compressed bytes", got.Item["event"])
	}
	plain, _ := json.Marshal(ev)
	if len(plain) < 2000 || len(stored.Value) > 1000 {
		t.Fatalf("event of %d bytes stored in %d", len(plain), len(stored.Value))
	}
	v := w.view(t, cid)
	if len(v.Interactions) != 1 || v.Interactions[0].Attributes["line_item_39"] == nil {
		t.Fatalf("the stored event does not read back whole: %+v", v.Interactions)
	}
}

// An event counted on a customer that is merged away afterwards is still
// recognised when it is delivered again: the merge carries the absorbed
// profile's digests to the survivor, which the redelivery now resolves
// to, and it writes nothing.
func TestRedeliveryAfterAMergeCountsNothing(t *testing.T) {
	w := newWorld(t)
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	first := event("message.received", "twilio", events.Customer{Phone: "+14017122661"}, t0, nil)
	counted := event("ticket.created", "zendesk", events.Customer{Email: "ann@example.com"}, t0.Add(time.Minute), map[string]any{"ticket_id": "1"})
	bridge := event("order.created", "shopify", events.Customer{ID: "c1", Email: "ann@example.com", Phone: "+14017122661"}, t0.Add(2*time.Minute), map[string]any{"order_id": "o1"})
	w.apply(t, first, counted)
	absorbed := w.owner(t, "email:ann@example.com")
	w.apply(t, bridge)
	survivor := w.owner(t, "phone:+14017122661")
	if w.owner(t, "email:ann@example.com") != survivor || survivor == absorbed {
		t.Fatalf("the bridging order did not merge %s into %s", absorbed, survivor)
	}
	w.apply(t, counted) // delivered again, after the merge
	v := w.view(t, survivor)
	if len(v.Interactions) != 3 || v.InteractionsTotal != 3 {
		t.Fatalf("%d interactions (counted %d), want 3 each", len(v.Interactions), v.InteractionsTotal)
	}
}
