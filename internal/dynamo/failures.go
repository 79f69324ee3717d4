package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/topology"
)

// Failures implements failure.Store and failure.Outbox on the failures
// table.
//
// A failure is one item, pk "failure#<id>": the record as JSON ("failure",
// rewritten on every lifecycle step), its state, and the occurrence count
// and last-seen time as attributes of their own, so a repeat counts with
// an ADD instead of a read and rewrite. It is listed newest first through
// gsi1 ("failures", detected time).
//
// An outbox message is one item, pk "outbox#<message id>", listed through
// gsi1 ("outbox", lease expiry) so a scheduled run finds the ones whose
// writer stopped before publishing.
type Failures struct {
	client *dynamodb.Client
	table  string
}

var (
	_ failure.Store  = (*Failures)(nil)
	_ failure.Outbox = (*Failures)(nil)
)

// NewFailures returns the store.
func NewFailures(client *dynamodb.Client, table string) *Failures {
	return &Failures{client: client, table: table}
}

// Attribute names of a failure item besides its keys.
const (
	failureRecord      = "failure"
	failureState       = "state"
	failureOccurrences = "occurrences"
	failureLastSeen    = "last_seen_at"
	outboxType         = "detail_type"
	outboxLease        = "lease_until" // epoch milliseconds; compared in conditions
	gsiFailures        = "failures"
	gsiOutbox          = "outbox"
)

// sortable formats times so that they sort as strings: fixed width, UTC.
const sortable = "2006-01-02T15:04:05.000000000Z"

func failureKey(id string) map[string]ddb.AttributeValue { return key("failure#"+id, "failure") }

func outboxKey(id string) map[string]ddb.AttributeValue { return key("outbox#"+id, "outbox") }

func millis(t time.Time) ddb.AttributeValue {
	return &ddb.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

// failureItem is the item of a new failure.
func failureItem(fl events.Failure) (map[string]ddb.AttributeValue, error) {
	body, err := json.Marshal(fl)
	if err != nil {
		return nil, fmt.Errorf("encode failure %s: %w", fl.ID, err)
	}
	item := failureKey(fl.ID)
	item[failureRecord] = s(string(body))
	item["rule_id"] = s(fl.RuleID)
	item["team"] = s(fl.Team)
	item["severity"] = s(fl.Severity)
	item[failureState] = s(fl.State)
	item[failureOccurrences] = n(int64(max(fl.Occurrences, 1)))
	item[failureLastSeen] = s(fl.LastSeenAt.UTC().Format(time.RFC3339Nano))
	if fl.CustomerID != "" {
		item["customer_id"] = s(fl.CustomerID)
	}
	if fl.Key != "" {
		item["key"] = s(fl.Key)
	}
	item[topology.GSI1PK] = s(gsiFailures)
	item[topology.GSI1SK] = s(fl.DetectedAt.UTC().Format(time.RFC3339Nano) + "#" + fl.ID)
	return item, nil
}

// outboxItem is the item of an outbox message.
func outboxItem(m failure.Message) (map[string]ddb.AttributeValue, error) {
	body, err := json.Marshal(m.Failure)
	if err != nil {
		return nil, fmt.Errorf("encode message %s: %w", m.ID, err)
	}
	item := outboxKey(m.ID)
	item[outboxType] = s(m.DetailType)
	item[failureRecord] = s(string(body))
	item[outboxLease] = millis(m.LeaseUntil)
	item[topology.GSI1PK] = s(gsiOutbox)
	item[topology.GSI1SK] = s(m.LeaseUntil.UTC().Format(sortable) + "#" + m.ID)
	return item, nil
}

// decodeFailure reads a failure item: the record, with the counters kept
// beside it.
func decodeFailure(it map[string]ddb.AttributeValue) (events.Failure, error) {
	var fl events.Failure
	if err := json.Unmarshal([]byte(str(it, failureRecord)), &fl); err != nil {
		return fl, fmt.Errorf("decode failure %s: %w", str(it, topology.PK), err)
	}
	if v := num(it, failureOccurrences); v > 0 {
		fl.Occurrences = int(v)
	}
	if t, err := time.Parse(time.RFC3339Nano, str(it, failureLastSeen)); err == nil && t.After(fl.LastSeenAt) {
		fl.LastSeenAt = t
	}
	return fl, nil
}

// Get implements failure.Store.
func (f *Failures) Get(ctx context.Context, id string) (events.Failure, error) {
	out, err := f.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.table), Key: failureKey(id), ConsistentRead: aws.Bool(true)})
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
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":g": s(gsiFailures)},
		ScanIndexForward:          aws.Bool(flt.Oldest),
		Limit:                     aws.Int32(int32(limit)),
	}
	var conds []string
	for attr, v := range map[string]string{failureState: flt.State, "team": flt.Team, "rule_id": flt.Rule, "severity": flt.Severity} {
		if v != "" {
			conds = append(conds, "#"+attr+" = :"+attr)
			in.ExpressionAttributeNames["#"+attr] = attr
			in.ExpressionAttributeValues[":"+attr] = s(v)
		}
	}
	if len(conds) > 0 {
		expr := conds[0]
		for _, c := range conds[1:] {
			expr += " AND " + c
		}
		in.FilterExpression = aws.String(expr)
	}
	if cursor != "" {
		start, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", failure.ErrBadCursor, err)
		}
		in.ExclusiveStartKey = start
	}
	out, err := f.client.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list failures: %w", err)
	}
	page := make([]events.Failure, 0, len(out.Items))
	for _, it := range out.Items {
		fl, err := decodeFailure(it)
		if err != nil {
			return nil, "", err
		}
		page = append(page, fl)
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 {
		next = encodeCursor(out.LastEvaluatedKey)
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
	msg, err := outboxItem(m)
	if err != nil {
		return err
	}
	_, err = f.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddb.TransactWriteItem{
		{Update: &ddb.Update{
			TableName:                 aws.String(f.table),
			Key:                       failureKey(fl.ID),
			UpdateExpression:          aws.String("SET #f = :f, #s = :to"),
			ConditionExpression:       aws.String("#s = :from"),
			ExpressionAttributeNames:  map[string]string{"#f": failureRecord, "#s": failureState},
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":f": s(string(body)), ":to": s(fl.State), ":from": s(from)},
		}},
		{Put: &ddb.Put{TableName: aws.String(f.table), Item: msg}},
	}})
	if transactionConditionFailed(err, 0) || transactionConflict(err) {
		return failure.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("move failure %s from %s to %s: %w", fl.ID, from, fl.State, err)
	}
	return nil
}

// Due implements failure.Outbox.
func (f *Failures) Due(ctx context.Context, now time.Time, limit int) ([]failure.Message, error) {
	out, err := f.client.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(f.table),
		IndexName:                 aws.String(topology.GSI1Index),
		KeyConditionExpression:    aws.String("#g = :g AND #s < :now"),
		ExpressionAttributeNames:  map[string]string{"#g": topology.GSI1PK, "#s": topology.GSI1SK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":g": s(gsiOutbox), ":now": s(now.UTC().Format(sortable))},
		Limit:                     aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, fmt.Errorf("list due failure events: %w", err)
	}
	msgs := make([]failure.Message, 0, len(out.Items))
	for _, it := range out.Items {
		var fl events.Failure
		if err := json.Unmarshal([]byte(str(it, failureRecord)), &fl); err != nil {
			return nil, fmt.Errorf("decode message %s: %w", str(it, topology.PK), err)
		}
		id := str(it, topology.PK)[len("outbox#"):]
		msgs = append(msgs, failure.Message{ID: id, DetailType: str(it, outboxType), Failure: fl, LeaseUntil: time.UnixMilli(num(it, outboxLease)).UTC()})
	}
	return msgs, nil
}

// Claim implements failure.Outbox.
func (f *Failures) Claim(ctx context.Context, id string, now, until time.Time) (bool, error) {
	_, err := f.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(f.table),
		Key:                      outboxKey(id),
		UpdateExpression:         aws.String("SET #l = :until, #s = :sk"),
		ConditionExpression:      aws.String("#l < :now"),
		ExpressionAttributeNames: map[string]string{"#l": outboxLease, "#s": topology.GSI1SK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":until": millis(until), ":now": millis(now), ":sk": s(until.UTC().Format(sortable) + "#" + id),
		},
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim failure event %s: %w", id, err)
	}
	return true, nil
}

// Sent implements failure.Outbox.
func (f *Failures) Sent(ctx context.Context, id string) error {
	if _, err := f.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(f.table), Key: outboxKey(id)}); err != nil {
		return fmt.Errorf("delete sent failure event %s: %w", id, err)
	}
	return nil
}

// transactionConflict reports whether a transaction was cancelled because
// another transaction was writing the same items.
func transactionConflict(err error) bool {
	var tc *ddb.TransactionCanceledException
	if !errors.As(err, &tc) {
		return false
	}
	for _, r := range tc.CancellationReasons {
		if aws.ToString(r.Code) == "TransactionConflict" {
			return true
		}
	}
	return false
}
