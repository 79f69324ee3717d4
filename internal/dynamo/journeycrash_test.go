package dynamo_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
)

// failOperation makes the next n calls of one DynamoDB operation fail before
// they are sent, as a function that stops mid-commit (a timeout, a crash)
// leaves the writes before it and none of the rest.
func failOperation(op string, n *atomic.Int32) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("fail-"+op, func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if middleware.GetOperationName(ctx) == op && n.Add(-1) >= 0 {
				return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("injected: the attempt stopped here")
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
	}
}

// Commit writes keys, instances and the interaction one item at a time and
// only the marker with the profile's count in a transaction. An attempt
// that stops just before that transaction leaves everything else written;
// its redelivery applies the event once — one interaction, counted once,
// one step in the journey — and announces the journey events the stopped
// attempt never published, under the ids it would have used.
func TestCommitStoppedBeforeItsMarkerAppliesOnceOnRedelivery(t *testing.T) {
	var fail atomic.Int32
	c := dynamodb.NewFromConfig(mototest.Config(t), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, failOperation("TransactWriteItems", &fail))
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
	w.apply(t, created) // and one more, after the marker
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
