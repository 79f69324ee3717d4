// Package failurestore holds failures in the failures table: the records
// (failure.Store), the outbox announcing their steps (failure.Outbox) and
// their activity (failure.Notebook).
package failurestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/topology"
)

// Failures implements failure.Store on the failures table; Outbox and
// Notebook share its items.
//
// A failure is one item, pk "failure#<id>": the record as JSON ("failure",
// rewritten on every lifecycle step), its state, and the occurrence count
// and last-seen time as attributes of their own, so a repeat counts with
// an ADD instead of a read and rewrite. It is listed newest first through
// gsi1 ("failures", detected time).
//
// A lifecycle step writes the failure and its outbox message (outbox.go)
// in one transaction.
type Failures struct {
	client *dynamodb.Client
	table  string
}

var _ failure.Store = (*Failures)(nil)

// NewFailures returns the store.
func NewFailures(client *dynamodb.Client, table string) *Failures {
	return &Failures{client: client, table: table}
}

// Attribute names of a failure item besides its keys.
const (
	failureRecord    = "failure"
	failureState     = "state"
	FieldOccurrences = "occurrences"
	FieldLastSeen    = "last_seen_at"
	outboxType       = "detail_type"
	outboxLease      = "lease_until" // epoch milliseconds; compared in conditions
	gsiFailures      = "failures"
	outboxID         = "message_id"
	gsiOutbox        = "outbox" // legacy messages only
)

func FailureKey(id string) map[string]ddb.AttributeValue {
	return dynamo.ItemKey("failure#"+id, "failure")
}

// outboxKey places a message in one of OutboxShards partitions by its id.
// A message lives from its commit to its publication, a moment later, so
// the partitions hold little and the scheduled run reads them whole; no
// index entry is written (and deleted) for every message.
func outboxKey(id string) map[string]ddb.AttributeValue {
	return dynamo.ItemKey(OutboxPartition(outboxShard(id)), "msg#"+id)
}

// OutboxShards spreads the messages of a failure storm over partitions,
// each well inside DynamoDB's 1,000 writes a second.
const OutboxShards = 8

// OutboxPartition is the partition key of an outbox shard.
func OutboxPartition(shard int) string { return "outbox#" + strconv.Itoa(shard) }

func outboxShard(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % OutboxShards)
}

// legacyOutboxKey is where messages were kept before the shards: one
// item per message, listed through gsi1.
func legacyOutboxKey(id string) map[string]ddb.AttributeValue {
	return dynamo.ItemKey("outbox#"+id, "outbox")
}

// FailureItem is the item of a new failure.
func FailureItem(fl events.Failure) (map[string]ddb.AttributeValue, error) {
	body, err := json.Marshal(fl)
	if err != nil {
		return nil, fmt.Errorf("encode failure %s: %w", fl.ID, err)
	}
	item := FailureKey(fl.ID)
	item[failureRecord] = dynamo.AttrDoc(body)
	item["rule_id"] = dynamo.AttrS(fl.RuleID)
	item["team"] = dynamo.AttrS(fl.Team)
	item["severity"] = dynamo.AttrS(fl.Severity)
	item[failureState] = dynamo.AttrS(fl.State)
	item[FieldOccurrences] = dynamo.AttrN(int64(max(fl.Occurrences, 1)))
	item[FieldLastSeen] = dynamo.AttrS(fl.LastSeenAt.UTC().Format(time.RFC3339Nano))
	if fl.CustomerID != "" {
		item["customer_id"] = dynamo.AttrS(fl.CustomerID)
	}
	if fl.Key != "" {
		item["key"] = dynamo.AttrS(fl.Key)
	}
	item[topology.GSI1PK] = dynamo.AttrS(gsiFailures)
	item[topology.GSI1SK] = dynamo.AttrS(fl.DetectedAt.UTC().Format(time.RFC3339Nano) + "#" + fl.ID)
	return item, nil
}

// OutboxItem is the item of an outbox message.
func OutboxItem(m failure.Message) (map[string]ddb.AttributeValue, error) {
	body, err := json.Marshal(m.Failure)
	if err != nil {
		return nil, fmt.Errorf("encode message %s: %w", m.ID, err)
	}
	item := outboxKey(m.ID)
	item[outboxType] = dynamo.AttrS(m.DetailType)
	item[failureRecord] = dynamo.AttrDoc(body)
	item[outboxLease] = dynamo.AttrMillis(m.LeaseUntil)
	item[outboxID] = dynamo.AttrS(m.ID)
	return item, nil
}

// decodeFailure reads a failure item: the record, with the counters kept
// beside it.
func decodeFailure(it map[string]ddb.AttributeValue) (events.Failure, error) {
	var fl events.Failure
	if err := dynamo.UnmarshalDoc(it, failureRecord, &fl); err != nil {
		return fl, fmt.Errorf("decode failure %s: %w", dynamo.GetS(it, topology.PK), err)
	}
	if v := dynamo.GetN(it, FieldOccurrences); v > 0 {
		fl.Occurrences = int(v)
	}
	if t, err := time.Parse(time.RFC3339Nano, dynamo.GetS(it, FieldLastSeen)); err == nil && t.After(fl.LastSeenAt) {
		fl.LastSeenAt = t
	}
	return fl, nil
}

// Get implements failure.Store.
func (f *Failures) Get(ctx context.Context, id string) (events.Failure, error) {
	out, err := f.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.table), Key: FailureKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return events.Failure{}, fmt.Errorf("read failure %s: %w", id, err)
	}
	if out.Item == nil {
		return events.Failure{}, failure.ErrNotFound
	}
	return decodeFailure(out.Item)
}

// List implements failure.Store: newest first (or oldest), filtered by
// state, team, rule and severity. A filtered page may hold fewer than limit failures while more
// follow; the cursor says so.
func (f *Failures) List(ctx context.Context, flt failure.Filter, cursor string, limit int) ([]events.Failure, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(f.table),
		IndexName:                 aws.String(topology.GSI1Index),
		KeyConditionExpression:    aws.String("#g = :g"),
		ExpressionAttributeNames:  map[string]string{"#g": topology.GSI1PK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":g": dynamo.AttrS(gsiFailures)},
		ScanIndexForward:          aws.Bool(flt.Oldest),
		Limit:                     aws.Int32(int32(limit)),
	}
	var conds []string
	for attr, v := range map[string]string{failureState: flt.State, "team": flt.Team, "rule_id": flt.Rule, "severity": flt.Severity} {
		if v != "" {
			conds = append(conds, "#"+attr+" = :"+attr)
			in.ExpressionAttributeNames["#"+attr] = attr
			in.ExpressionAttributeValues[":"+attr] = dynamo.AttrS(v)
		}
	}
	if len(conds) > 0 {
		expr := conds[0]
		for _, c := range conds[1:] {
			expr += " AND " + c
		}
		in.FilterExpression = aws.String(expr)
	}
	items, next, err := dynamo.Page(ctx, f.client, in, cursor, nil)
	if errors.Is(err, dynamo.ErrBadCursor) {
		return nil, "", fmt.Errorf("%w: %w", failure.ErrBadCursor, err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list failures: %w", err)
	}
	page := make([]events.Failure, 0, len(items))
	for _, it := range items {
		fl, err := decodeFailure(it)
		if err != nil {
			return nil, "", err
		}
		page = append(page, fl)
	}
	return page, next, nil
}

// Transition implements failure.Store: the record and its state change
// only if the state is still `from`, in one transaction with the message.
func (f *Failures) Transition(ctx context.Context, fl events.Failure, from string, m failure.Message) error {
	body, err := json.Marshal(fl)
	if err != nil {
		return fmt.Errorf("encode failure %s: %w", fl.ID, err)
	}
	msg, err := OutboxItem(m)
	if err != nil {
		return err
	}
	_, err = f.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddb.TransactWriteItem{
		{Update: &ddb.Update{
			TableName:                 aws.String(f.table),
			Key:                       FailureKey(fl.ID),
			UpdateExpression:          aws.String("SET #f = :f, #s = :to"),
			ConditionExpression:       aws.String("#s = :from"),
			ExpressionAttributeNames:  map[string]string{"#f": failureRecord, "#s": failureState},
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":f": dynamo.AttrDoc(body), ":to": dynamo.AttrS(fl.State), ":from": dynamo.AttrS(from)},
		}},
		{Put: &ddb.Put{TableName: aws.String(f.table), Item: msg}},
	}})
	if dynamo.TransactionConditionFailed(err, 0) || dynamo.TransactionConflict(err) {
		return failure.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("move failure %s from %s to %s: %w", fl.ID, from, fl.State, err)
	}
	return nil
}
