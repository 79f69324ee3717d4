// Package intakestore holds the ingest function's stores in the intake
// table: the delivery ledger (ingest.Ledger), the quarantine of bad rows
// (ingest.Quarantine) and the per-minute tallies (ingest.TallyStore).
package intakestore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/ingest"
)

// DeliveryRetention is how long a delivery id is remembered. Providers retry
// for up to three days; two weeks leaves room for manual redelivery.
const DeliveryRetention = 14 * 24 * time.Hour

// Ledger implements ingest.Ledger on the intake table.
type Ledger struct {
	client *dynamodb.Client
	table  string
}

var _ ingest.Ledger = (*Ledger)(nil)

// NewLedger returns a ledger over table.
func NewLedger(client *dynamodb.Client, table string) *Ledger {
	return &Ledger{client: client, table: table}
}

func deliveryKey(channel, delivery string) map[string]ddb.AttributeValue {
	return dynamo.ItemKey("delivery#"+channel+"#"+delivery, "delivery")
}

// Seen reads the delivery's record, consistently so a retry that follows
// its original closely is answered from the record rather than redone.
func (l *Ledger) Seen(ctx context.Context, channel, delivery string) (ingest.Seen, error) {
	out, err := l.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: deliveryKey(channel, delivery), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return ingest.Seen{}, fmt.Errorf("read delivery %s/%s: %w", channel, delivery, err)
	}
	// Records in state "claimed" were left by attempts before claims were
	// dropped: not done, so the delivery is processed again.
	if dynamo.GetS(out.Item, "state") != "done" {
		return ingest.Seen{}, nil
	}
	return ingest.Seen{Done: true, EventIDs: dynamo.GetSS(out.Item, "event_ids"), Topic: dynamo.GetS(out.Item, "topic")}, nil
}

// Complete marks the delivery done: one write, unconditional, because two
// attempts that race here publish the same ids.
func (l *Ledger) Complete(ctx context.Context, channel, delivery string, eventIDs []string, topic string, now time.Time) error {
	ids := make([]ddb.AttributeValue, len(eventIDs))
	for i, id := range eventIDs {
		ids[i] = dynamo.AttrS(id)
	}
	item := deliveryKey(channel, delivery)
	item["state"] = dynamo.AttrS("done")
	item["event_ids"] = &ddb.AttributeValueMemberL{Value: ids}
	item["done_at"] = dynamo.AttrS(now.UTC().Format(time.RFC3339Nano))
	if topic != "" {
		item["topic"] = dynamo.AttrS(topic)
	}
	item["expires_at"] = dynamo.AttrEpoch(now.Add(DeliveryRetention))
	if _, err := l.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.table), Item: item}); err != nil {
		return fmt.Errorf("complete delivery %s/%s: %w", channel, delivery, err)
	}
	return nil
}
