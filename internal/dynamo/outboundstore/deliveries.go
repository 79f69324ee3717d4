// Package outboundstore holds the outbound webhooks' state in the outbound
// table: deliveries with their attempts (outbound.Deliveries) and
// endpoints' health (outbound.Endpoints).
package outboundstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/topology"
)

// The outbound table holds each delivery (pk delivery#<id>, sk delivery)
// with its attempts beside it (sk attempt#<n>), and each endpoint's state
// (pk endpoint#<id>, sk state). A delivery is indexed by endpoint and
// status (gsi1pk outbound#<endpoint>, gsi1sk <status>#<time>#<id>): a
// pending one by when it is next due, so the sweep finds the overdue ones
// in one range; the others by when they were created, newest first.
const (
	outboundRetention = 30 * 24 * time.Hour
	skDelivery        = "delivery"
	skEndpoint        = "state"
)

func deliveryPK(id string) string  { return "delivery#" + id }
func endpointPK(id string) string  { return "endpoint#" + id }
func attemptSK(n int) string       { return fmt.Sprintf("attempt#%05d", n) }
func outboundGSI(ep string) string { return "outbound#" + ep }

func outboundGSISK(status string, at time.Time, id string) string {
	return status + "#" + at.UTC().Format(dynamo.Sortable) + "#" + id
}

// gsiTime is the time a delivery in status is indexed by.
func gsiTime(status string, created, next time.Time) time.Time {
	if status == outbound.StatusPending {
		return next
	}
	return created
}

func rfc(t time.Time) ddb.AttributeValue { return dynamo.AttrS(t.UTC().Format(time.RFC3339Nano)) }

func timeOf(item map[string]ddb.AttributeValue, name string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, dynamo.GetS(item, name))
	return t
}

// Deliveries is outbound.Deliveries on DynamoDB.
type Deliveries struct {
	client *dynamodb.Client
	table  string
}

var _ outbound.Deliveries = (*Deliveries)(nil)

// NewDeliveries returns the delivery log over table (the outbound table).
func NewDeliveries(client *dynamodb.Client, table string) *Deliveries {
	return &Deliveries{client: client, table: table}
}

// CreateSettled implements outbound.Deliveries: the attempt's record,
// then the delivery as it left it, in one conditional put.
func (st *Deliveries) CreateSettled(ctx context.Context, d outbound.Delivery, a *outbound.Attempt, o outbound.Outcome) (bool, error) {
	if a != nil {
		if err := st.putAttempt(ctx, d, *a, o); err != nil {
			return false, err
		}
	}
	return st.put(ctx, d, deliveryItem(d.Settled(a, o)))
}

func deliveryItem(d outbound.Delivery) map[string]ddb.AttributeValue {
	item := dynamo.ItemKey(deliveryPK(d.ID), skDelivery)
	item["endpoint"] = dynamo.AttrS(d.Endpoint)
	item["event_id"] = dynamo.AttrS(d.EventID)
	item["event_type"] = dynamo.AttrS(d.EventType)
	item["body"] = dynamo.AttrDoc(d.Body)
	item["status"] = dynamo.AttrS(d.Status)
	item["attempts"] = dynamo.AttrN(int64(d.Attempts))
	item["round_base"] = dynamo.AttrN(int64(d.RoundBase))
	item["created_at"] = rfc(d.CreatedAt)
	item["round_started_at"] = rfc(d.RoundStarted)
	if !d.NextAttemptAt.IsZero() {
		item["next_at"] = dynamo.AttrMillis(d.NextAttemptAt)
	}
	if !d.DeliveredAt.IsZero() {
		item["delivered_at"] = rfc(d.DeliveredAt)
	}
	if !d.FailedAt.IsZero() {
		item["failed_at"] = rfc(d.FailedAt)
	}
	if d.LastStatus != 0 {
		item["last_status"] = dynamo.AttrN(int64(d.LastStatus))
	}
	if d.LastError != "" {
		item["last_error"] = dynamo.AttrS(d.LastError)
	}
	item[topology.GSI1PK] = dynamo.AttrS(outboundGSI(d.Endpoint))
	item[topology.GSI1SK] = dynamo.AttrS(outboundGSISK(d.Status, gsiTime(d.Status, d.CreatedAt, d.NextAttemptAt), d.ID))
	item[topology.TTL] = dynamo.AttrEpoch(d.CreatedAt.Add(outboundRetention))
	return item
}

// put writes item, d's, unless a delivery with d's id exists.
func (st *Deliveries) put(ctx context.Context, d outbound.Delivery, item map[string]ddb.AttributeValue) (bool, error) {
	_, err := st.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(st.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": topology.PK},
	})
	if dynamo.ConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store delivery %s: %w", d.ID, err)
	}
	return true, nil
}

func decodeDelivery(item map[string]ddb.AttributeValue) (outbound.Delivery, error) {
	body, err := dynamo.GetDoc(item, "body")
	if err != nil {
		return outbound.Delivery{}, fmt.Errorf("decode delivery %s: %w", dynamo.GetS(item, topology.PK), err)
	}
	d := outbound.Delivery{
		ID: strings.TrimPrefix(dynamo.GetS(item, topology.PK), "delivery#"), Endpoint: dynamo.GetS(item, "endpoint"),
		EventID: dynamo.GetS(item, "event_id"), EventType: dynamo.GetS(item, "event_type"), Body: json.RawMessage(body),
		Status: dynamo.GetS(item, "status"), Attempts: int(dynamo.GetN(item, "attempts")), RoundBase: int(dynamo.GetN(item, "round_base")),
		CreatedAt: timeOf(item, "created_at"), RoundStarted: timeOf(item, "round_started_at"),
		DeliveredAt: timeOf(item, "delivered_at"), FailedAt: timeOf(item, "failed_at"),
		LastStatus: int(dynamo.GetN(item, "last_status")), LastError: dynamo.GetS(item, "last_error"), Replays: int(dynamo.GetN(item, "replays")),
	}
	if _, ok := item["next_at"]; ok {
		d.NextAttemptAt = time.UnixMilli(dynamo.GetN(item, "next_at")).UTC()
	}
	return d, nil
}

// Get implements outbound.Deliveries.
func (st *Deliveries) Get(ctx context.Context, id string) (outbound.Delivery, error) {
	out, err := st.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: dynamo.ItemKey(deliveryPK(id), skDelivery), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return outbound.Delivery{}, fmt.Errorf("read delivery %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return outbound.Delivery{}, outbound.ErrNotFound
	}
	return decodeDelivery(out.Item)
}

// Claim implements outbound.Deliveries.
func (st *Deliveries) Claim(ctx context.Context, id string, attempt int, now, next time.Time) (bool, error) {
	_, err := st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: dynamo.ItemKey(deliveryPK(id), skDelivery),
		UpdateExpression:         aws.String("SET attempts = :n, next_at = :next"),
		ConditionExpression:      aws.String("#status = :pending AND attempts = :prev AND next_at <= :now"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":n": dynamo.AttrN(int64(attempt)), ":prev": dynamo.AttrN(int64(attempt - 1)), ":next": dynamo.AttrMillis(next), ":now": dynamo.AttrMillis(now), ":pending": dynamo.AttrS(outbound.StatusPending),
		},
	})
	if dynamo.ConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim attempt %d of delivery %s: %w", attempt, id, err)
	}
	return true, nil
}

// Record implements outbound.Deliveries: the attempt is kept first, so a
// delivery's outcome never names an attempt that is not there.
func (st *Deliveries) Record(ctx context.Context, d outbound.Delivery, a outbound.Attempt, o outbound.Outcome) error {
	if err := st.putAttempt(ctx, d, a, o); err != nil {
		return err
	}
	return st.settle(ctx, d, o)
}

// putAttempt keeps attempt a of d, whose outcome is o.
func (st *Deliveries) putAttempt(ctx context.Context, d outbound.Delivery, a outbound.Attempt, o outbound.Outcome) error {
	item := dynamo.ItemKey(deliveryPK(d.ID), attemptSK(a.N))
	item["at"] = rfc(a.At)
	item["status"] = dynamo.AttrN(int64(a.Status))
	item["latency_ms"] = dynamo.AttrN(a.LatencyMS)
	if a.Response != "" {
		item["response"] = dynamo.AttrS(a.Response)
	}
	if a.Error != "" {
		item["error"] = dynamo.AttrS(a.Error)
	}
	item[topology.TTL] = dynamo.AttrEpoch(o.At.Add(outboundRetention))
	if _, err := st.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.table), Item: item}); err != nil {
		return fmt.Errorf("store attempt %d of delivery %s: %w", a.N, d.ID, err)
	}
	return nil
}

// settle moves d to o's status.
func (st *Deliveries) settle(ctx context.Context, d outbound.Delivery, o outbound.Outcome) error {
	set := []string{"#status = :status", "#gsk = :gsk", "last_status = :ls", "#ttl = :ttl"}
	remove := []string{}
	vals := map[string]ddb.AttributeValue{
		":status": dynamo.AttrS(o.Status), ":gsk": dynamo.AttrS(outboundGSISK(o.Status, gsiTime(o.Status, d.CreatedAt, o.NextAttemptAt), d.ID)), ":ls": dynamo.AttrN(int64(o.LastStatus)),
		":ttl": dynamo.AttrEpoch(o.At.Add(outboundRetention)),
	}
	if o.LastError != "" {
		set = append(set, "last_error = :le")
		vals[":le"] = dynamo.AttrS(o.LastError)
	} else {
		remove = append(remove, "last_error")
	}
	switch o.Status {
	case outbound.StatusPending:
		set = append(set, "next_at = :next")
		vals[":next"] = dynamo.AttrMillis(o.NextAttemptAt)
	case outbound.StatusDelivered:
		set = append(set, "delivered_at = :at")
		vals[":at"] = rfc(o.At)
		remove = append(remove, "next_at")
	case outbound.StatusFailed:
		set = append(set, "failed_at = :at")
		vals[":at"] = rfc(o.At)
		remove = append(remove, "next_at")
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	_, err := st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: dynamo.ItemKey(deliveryPK(d.ID), skDelivery),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#status": "status", "#gsk": topology.GSI1SK, "#ttl": topology.TTL, "#pk": topology.PK},
		ExpressionAttributeValues: vals,
	})
	if err != nil {
		return fmt.Errorf("update delivery %s to %s: %w", d.ID, o.Status, err)
	}
	return nil
}

// Fail implements outbound.Deliveries.
func (st *Deliveries) Fail(ctx context.Context, d outbound.Delivery, at time.Time, reason string) error {
	return st.settle(ctx, d, outbound.Outcome{Status: outbound.StatusFailed, At: at, LastStatus: d.LastStatus, LastError: reason})
}

// Reopen implements outbound.Deliveries.
func (st *Deliveries) Reopen(ctx context.Context, d outbound.Delivery, now time.Time) (bool, error) {
	_, err := st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: dynamo.ItemKey(deliveryPK(d.ID), skDelivery),
		UpdateExpression: aws.String("SET #status = :pending, #gsk = :gsk, next_at = :now, round_started_at = :round, round_base = attempts, " +
			"replays = if_not_exists(replays, :zero) + :one, #ttl = :ttl REMOVE failed_at, delivered_at"),
		ConditionExpression:      aws.String("attribute_exists(#pk) AND #status <> :pending"),
		ExpressionAttributeNames: map[string]string{"#status": "status", "#gsk": topology.GSI1SK, "#ttl": topology.TTL, "#pk": topology.PK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":pending": dynamo.AttrS(outbound.StatusPending), ":gsk": dynamo.AttrS(outboundGSISK(outbound.StatusPending, now, d.ID)),
			":now": dynamo.AttrMillis(now), ":round": rfc(now), ":zero": dynamo.AttrN(0), ":one": dynamo.AttrN(1), ":ttl": dynamo.AttrEpoch(now.Add(outboundRetention)),
		},
	})
	if dynamo.ConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reopen delivery %s: %w", d.ID, err)
	}
	return true, nil
}

// List implements outbound.Deliveries: delivered and failed ones newest
// first, pending ones latest due first, or with DueBy soonest due first;
// with no status, by status (pending, failed, delivered) in those orders.
func (st *Deliveries) List(ctx context.Context, q outbound.Query) ([]outbound.Delivery, string, error) {
	in := &dynamodb.QueryInput{
		TableName: aws.String(st.table), IndexName: aws.String(topology.GSI1Index),
		KeyConditionExpression:    aws.String("#gpk = :gpk"),
		ExpressionAttributeNames:  map[string]string{"#gpk": topology.GSI1PK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":gpk": dynamo.AttrS(outboundGSI(q.Endpoint))},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(max(1, q.Limit))),
	}
	switch {
	case !q.DueBy.IsZero():
		in.KeyConditionExpression = aws.String("#gpk = :gpk AND #gsk BETWEEN :from AND :to")
		in.ExpressionAttributeNames["#gsk"] = topology.GSI1SK
		in.ExpressionAttributeValues[":from"] = dynamo.AttrS(outbound.StatusPending + "#")
		in.ExpressionAttributeValues[":to"] = dynamo.AttrS(outbound.StatusPending + "#" + q.DueBy.UTC().Format(dynamo.Sortable) + "#~")
		in.ScanIndexForward = aws.Bool(true)
	case q.Status != "":
		in.KeyConditionExpression = aws.String("#gpk = :gpk AND begins_with(#gsk, :status)")
		in.ExpressionAttributeNames["#gsk"] = topology.GSI1SK
		in.ExpressionAttributeValues[":status"] = dynamo.AttrS(q.Status + "#")
	}
	items, next, err := dynamo.Page(ctx, st.client, in, q.Cursor, nil)
	if errors.Is(err, dynamo.ErrBadCursor) {
		return nil, "", fmt.Errorf("%w: %w", outbound.ErrBadCursor, err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries of %s: %w", q.Endpoint, err)
	}
	page := make([]outbound.Delivery, 0, len(items))
	for _, it := range items {
		d, err := decodeDelivery(it)
		if err != nil {
			return nil, "", err
		}
		page = append(page, d)
	}
	return page, next, nil
}

// Attempts implements outbound.Deliveries, in order.
func (st *Deliveries) Attempts(ctx context.Context, id string) ([]outbound.Attempt, error) {
	var out []outbound.Attempt
	err := dynamo.Query(ctx, st.client, &dynamodb.QueryInput{
		TableName:                 aws.String(st.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :a)"),
		ExpressionAttributeNames:  map[string]string{"#pk": topology.PK, "#sk": topology.SK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS(deliveryPK(id)), ":a": dynamo.AttrS("attempt#")},
		ConsistentRead:            aws.Bool(true),
	}, func(item map[string]ddb.AttributeValue) error {
		nn, _ := strconv.Atoi(strings.TrimPrefix(dynamo.GetS(item, topology.SK), "attempt#"))
		out = append(out, outbound.Attempt{N: nn, At: timeOf(item, "at"), Status: int(dynamo.GetN(item, "status")), LatencyMS: dynamo.GetN(item, "latency_ms"),
			Response: dynamo.GetS(item, "response"), Error: dynamo.GetS(item, "error")})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list attempts of delivery %s: %w", id, err)
	}
	return out, nil
}
