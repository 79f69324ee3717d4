package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/dynamo/failurestore"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/topology"
)

// A message left behind is found by the scheduled run whether it was
// written in the shards or, before them, as an item of its own listed
// through gsi1 (which the run moves into the shards); one claimed and
// sent is gone.
func TestOutboxFindsMessagesLeftBehind(t *testing.T) {
	ctx := context.Background()
	c := dynamodb.NewFromConfig(mototest.Config(t))
	names := provision(t, c)
	table := names[topology.TableFailures]
	ob := failurestore.NewOutbox(c, table)
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	fresh := failure.Message{ID: "m-new", DetailType: events.TypeFailureDetected, Failure: events.Failure{ID: "f-1", RuleID: "nps.detractor"}, LeaseUntil: t0.Add(time.Minute)}
	item, err := failurestore.OutboxItem(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	// The earlier layout, as a writer before the shards left it.
	legacy := dynamo.ItemKey("outbox#m-old", "outbox")
	legacy["detail_type"] = dynamo.AttrS(events.TypeFailureResolved)
	legacy["failure"] = dynamo.AttrS(`{"id":"f-0","rule_id":"order.unfulfilled"}`)
	legacy["lease_until"] = dynamo.AttrMillis(t0)
	legacy[topology.GSI1PK] = dynamo.AttrS("outbox")
	legacy[topology.GSI1SK] = dynamo.AttrS(t0.Format(dynamo.Sortable) + "#m-old")
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: legacy}); err != nil {
		t.Fatal(err)
	}

	due, err := ob.Due(ctx, t0.Add(30*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].ID != "m-old" || due[0].Failure.ID != "f-0" || due[0].DetailType != events.TypeFailureResolved {
		t.Fatalf("due before the fresh lease ends: %+v, want the legacy message alone", due)
	}
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: dynamo.ItemKey("outbox#m-old", "outbox")})
	if err != nil || got.Item != nil {
		t.Fatalf("the legacy item stays after the move: %v %v", got.Item, err)
	}
	due, err = ob.Due(ctx, t0.Add(2*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 {
		t.Fatalf("%d due after both leases, want 2", len(due))
	}
	for _, m := range due {
		ok, err := ob.Claim(ctx, m.ID, t0.Add(2*time.Minute), t0.Add(3*time.Minute))
		if err != nil || !ok {
			t.Fatalf("claim %s: %v %v", m.ID, ok, err)
		}
		if ok, _ := ob.Claim(ctx, m.ID, t0.Add(2*time.Minute), t0.Add(3*time.Minute)); ok {
			t.Fatalf("%s claimed twice in one lease", m.ID)
		}
		if err := ob.Sent(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if due, err = ob.Due(ctx, t0.Add(time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("after sending: %+v %v", due, err)
	}
}
