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
// item in one of OutboxShards partitions ("outbox#<shard>", "msg#<id>"),
// written by Failures.Transition with the step it announces and deleted
// once published; a scheduled run reads the partitions for the ones whose
// writer stopped before publishing.
type Outbox struct {
	client *dynamodb.Client
	table  string
}

var _ failure.Outbox = (*Outbox)(nil)

// NewOutbox returns the outbox.
func NewOutbox(client *dynamodb.Client, table string) *Outbox {
	return &Outbox{client: client, table: table}
}

// Due implements failure.Outbox. Messages written before the shards (one
// item each, listed through gsi1) are moved into them first.
func (f *Outbox) Due(ctx context.Context, now time.Time, limit int) ([]failure.Message, error) {
	if err := f.moveLegacy(ctx, limit); err != nil {
		return nil, err
	}
	var msgs []failure.Message
	for shard := range OutboxShards {
		if len(msgs) >= limit {
			break
		}
		err := dynamo.Query(ctx, f.client, &dynamodb.QueryInput{
			TableName:                 aws.String(f.table),
			KeyConditionExpression:    aws.String("pk = :pk"),
			FilterExpression:          aws.String("#l < :now"),
			ExpressionAttributeNames:  map[string]string{"#l": outboxLease},
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS(OutboxPartition(shard)), ":now": dynamo.AttrMillis(now)},
		}, func(it map[string]ddb.AttributeValue) error {
			m, err := decodeMessage(it)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
			if len(msgs) >= limit {
				return dynamo.ErrStop
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list due failure events: %w", err)
		}
	}
	return msgs, nil
}

func decodeMessage(it map[string]ddb.AttributeValue) (failure.Message, error) {
	var fl events.Failure
	id := dynamo.GetS(it, outboxID)
	if err := dynamo.UnmarshalDoc(it, failureRecord, &fl); err != nil {
		return failure.Message{}, fmt.Errorf("decode message %s: %w", id, err)
	}
	return failure.Message{ID: id, DetailType: dynamo.GetS(it, outboxType), Failure: fl, LeaseUntil: time.UnixMilli(dynamo.GetN(it, outboxLease)).UTC()}, nil
}

// moveLegacy moves up to limit messages left in the earlier layout into
// the shards, each in a transaction that puts it and deletes the old item.
func (f *Outbox) moveLegacy(ctx context.Context, limit int) error {
	out, err := f.client.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(f.table),
		IndexName:                 aws.String(topology.GSI1Index),
		KeyConditionExpression:    aws.String("#g = :g"),
		ExpressionAttributeNames:  map[string]string{"#g": topology.GSI1PK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":g": dynamo.AttrS(gsiOutbox)},
		Limit:                     aws.Int32(int32(limit)),
	})
	if err != nil {
		return fmt.Errorf("list failure events kept before the outbox shards: %w", err)
	}
	for _, it := range out.Items {
		id := dynamo.GetS(it, topology.PK)[len("outbox#"):]
		var fl events.Failure
		if err := dynamo.UnmarshalDoc(it, failureRecord, &fl); err != nil {
			return fmt.Errorf("decode message %s: %w", id, err)
		}
		item, err := OutboxItem(failure.Message{ID: id, DetailType: dynamo.GetS(it, outboxType), Failure: fl, LeaseUntil: time.UnixMilli(dynamo.GetN(it, outboxLease)).UTC()})
		if err != nil {
			return err
		}
		_, err = f.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddb.TransactWriteItem{
			{Put: &ddb.Put{TableName: aws.String(f.table), Item: item}},
			{Delete: &ddb.Delete{TableName: aws.String(f.table), Key: legacyOutboxKey(id)}},
		}})
		if err != nil {
			return fmt.Errorf("move failure event %s into the outbox shards: %w", id, err)
		}
	}
	return nil
}

// Claim implements failure.Outbox.
func (f *Outbox) Claim(ctx context.Context, id string, now, until time.Time) (bool, error) {
	_, err := f.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(f.table),
		Key:                       outboxKey(id),
		UpdateExpression:          aws.String("SET #l = :until"),
		ConditionExpression:       aws.String("#l < :now"),
		ExpressionAttributeNames:  map[string]string{"#l": outboxLease},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":until": dynamo.AttrMillis(until), ":now": dynamo.AttrMillis(now)},
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
