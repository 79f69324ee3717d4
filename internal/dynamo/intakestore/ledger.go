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

// Claim takes the delivery unless it is done or held by a live lease.
func (l *Ledger) Claim(ctx context.Context, channel, delivery string, now time.Time, lease time.Duration) (ingest.Claim, error) {
	item := deliveryKey(channel, delivery)
	item["state"] = dynamo.AttrS("claimed")
	item["lease_until"] = dynamo.AttrN(now.Add(lease).UnixMilli())
	item["expires_at"] = dynamo.AttrEpoch(now.Add(DeliveryRetention))
	_, err := l.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(l.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR (#state = :claimed AND lease_until < :now)"),
		ExpressionAttributeNames: map[string]string{"#state": "state"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":claimed": dynamo.AttrS("claimed"), ":now": dynamo.AttrN(now.UnixMilli()),
		},
	})
	if err == nil {
		return ingest.Claim{}, nil
	}
	if !dynamo.ConditionFailed(err) {
		return ingest.Claim{}, fmt.Errorf("claim delivery %s/%s: %w", channel, delivery, err)
	}
	out, err := l.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: deliveryKey(channel, delivery), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return ingest.Claim{}, fmt.Errorf("read delivery %s/%s: %w", channel, delivery, err)
	}
	if dynamo.GetS(out.Item, "state") == "done" {
		return ingest.Claim{Done: true, EventIDs: dynamo.GetSS(out.Item, "event_ids"), Topic: dynamo.GetS(out.Item, "topic")}, nil
	}
	return ingest.Claim{Busy: true}, nil
}

// Complete marks the delivery done.
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

// Release drops a claim that is not done.
func (l *Ledger) Release(ctx context.Context, channel, delivery string) error {
	_, err := l.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(l.table),
		Key:                       deliveryKey(channel, delivery),
		ConditionExpression:       aws.String("#state = :claimed"),
		ExpressionAttributeNames:  map[string]string{"#state": "state"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":claimed": dynamo.AttrS("claimed")},
	})
	if err != nil && !dynamo.ConditionFailed(err) {
		return fmt.Errorf("release delivery %s/%s: %w", channel, delivery, err)
	}
	return nil
}
