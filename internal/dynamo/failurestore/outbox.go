package failurestore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/topology"
)

// Outbox implements failure.Outbox on the failures table. A message is one
// item, pk "outbox#<message id>", written by Failures.Transition with the
// step it announces and listed through gsi1 ("outbox", lease expiry), so a
// scheduled run finds the ones whose writer stopped before publishing.
type Outbox struct {
	client *dynamodb.Client
	table  string
}

var _ failure.Outbox = (*Outbox)(nil)

// NewOutbox returns the outbox.
func NewOutbox(client *dynamodb.Client, table string) *Outbox {
	return &Outbox{client: client, table: table}
}

// Due implements failure.Outbox.
func (f *Outbox) Due(ctx context.Context, now time.Time, limit int) ([]failure.Message, error) {
	out, err := f.client.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(f.table),
		IndexName:                 aws.String(topology.GSI1Index),
		KeyConditionExpression:    aws.String("#g = :g AND #s < :now"),
		ExpressionAttributeNames:  map[string]string{"#g": topology.GSI1PK, "#s": topology.GSI1SK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":g": dynamo.AttrS(gsiOutbox), ":now": dynamo.AttrS(now.UTC().Format(dynamo.Sortable))},
		Limit:                     aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, fmt.Errorf("list due failure events: %w", err)
	}
	msgs := make([]failure.Message, 0, len(out.Items))
	for _, it := range out.Items {
		var fl events.Failure
		if err := dynamo.UnmarshalDoc(it, failureRecord, &fl); err != nil {
			return nil, fmt.Errorf("decode message %s: %w", dynamo.GetS(it, topology.PK), err)
		}
		id := dynamo.GetS(it, topology.PK)[len("outbox#"):]
		msgs = append(msgs, failure.Message{ID: id, DetailType: dynamo.GetS(it, outboxType), Failure: fl, LeaseUntil: time.UnixMilli(dynamo.GetN(it, outboxLease)).UTC()})
	}
	return msgs, nil
}

// Claim implements failure.Outbox.
func (f *Outbox) Claim(ctx context.Context, id string, now, until time.Time) (bool, error) {
	_, err := f.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(f.table),
		Key:                      outboxKey(id),
		UpdateExpression:         aws.String("SET #l = :until, #s = :sk"),
		ConditionExpression:      aws.String("#l < :now"),
		ExpressionAttributeNames: map[string]string{"#l": outboxLease, "#s": topology.GSI1SK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":until": dynamo.AttrMillis(until), ":now": dynamo.AttrMillis(now), ":sk": dynamo.AttrS(until.UTC().Format(dynamo.Sortable) + "#" + id),
		},
	})
	if dynamo.ConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim failure event %s: %w", id, err)
	}
	return true, nil
}

// Sent implements failure.Outbox.
func (f *Outbox) Sent(ctx context.Context, id string) error {
	if _, err := f.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(f.table), Key: outboxKey(id)}); err != nil {
		return fmt.Errorf("delete sent failure event %s: %w", id, err)
	}
	return nil
}
