package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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
	return status + "#" + at.UTC().Format(sortable) + "#" + id
}

// gsiTime is the time a delivery in status is indexed by.
func gsiTime(status string, created, next time.Time) time.Time {
	if status == outbound.StatusPending {
		return next
	}
	return created
}

func rfc(t time.Time) ddb.AttributeValue { return s(t.UTC().Format(time.RFC3339Nano)) }

func timeOf(item map[string]ddb.AttributeValue, name string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, str(item, name))
	return t
}

// OutboundDeliveries is outbound.Deliveries on DynamoDB.
type OutboundDeliveries struct {
	client *dynamodb.Client
	table  string
}

var _ outbound.Deliveries = (*OutboundDeliveries)(nil)

// NewOutboundDeliveries returns the delivery log over table (the outbound table).
func NewOutboundDeliveries(client *dynamodb.Client, table string) *OutboundDeliveries {
	return &OutboundDeliveries{client: client, table: table}
}

// Create implements outbound.Deliveries.
func (st *OutboundDeliveries) Create(ctx context.Context, d outbound.Delivery) (bool, error) {
	item := key(deliveryPK(d.ID), skDelivery)
	item["endpoint"] = s(d.Endpoint)
	item["event_id"] = s(d.EventID)
	item["event_type"] = s(d.EventType)
	item["body"] = s(string(d.Body))
	item["status"] = s(d.Status)
	item["attempts"] = n(int64(d.Attempts))
	item["round_base"] = n(int64(d.RoundBase))
	item["created_at"] = rfc(d.CreatedAt)
	item["round_started_at"] = rfc(d.RoundStarted)
	item["next_at"] = millis(d.NextAttemptAt)
	item[topology.GSI1PK] = s(outboundGSI(d.Endpoint))
	item[topology.GSI1SK] = s(outboundGSISK(d.Status, gsiTime(d.Status, d.CreatedAt, d.NextAttemptAt), d.ID))
	item[topology.TTL] = epoch(d.CreatedAt.Add(outboundRetention))
	_, err := st.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(st.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": topology.PK},
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store delivery %s: %w", d.ID, err)
	}
	return true, nil
}

func decodeDelivery(item map[string]ddb.AttributeValue) outbound.Delivery {
	d := outbound.Delivery{
		ID: strings.TrimPrefix(str(item, topology.PK), "delivery#"), Endpoint: str(item, "endpoint"),
		EventID: str(item, "event_id"), EventType: str(item, "event_type"), Body: json.RawMessage(str(item, "body")),
		Status: str(item, "status"), Attempts: int(num(item, "attempts")), RoundBase: int(num(item, "round_base")),
		CreatedAt: timeOf(item, "created_at"), RoundStarted: timeOf(item, "round_started_at"),
		DeliveredAt: timeOf(item, "delivered_at"), FailedAt: timeOf(item, "failed_at"),
		LastStatus: int(num(item, "last_status")), LastError: str(item, "last_error"), Replays: int(num(item, "replays")),
	}
	if _, ok := item["next_at"]; ok {
		d.NextAttemptAt = time.UnixMilli(num(item, "next_at")).UTC()
	}
	return d
}

// Get implements outbound.Deliveries.
func (st *OutboundDeliveries) Get(ctx context.Context, id string) (outbound.Delivery, error) {
	out, err := st.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: key(deliveryPK(id), skDelivery), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return outbound.Delivery{}, fmt.Errorf("read delivery %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return outbound.Delivery{}, outbound.ErrNotFound
	}
	return decodeDelivery(out.Item), nil
}

// Claim implements outbound.Deliveries.
func (st *OutboundDeliveries) Claim(ctx context.Context, id string, attempt int, now, next time.Time) (bool, error) {
	_, err := st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: key(deliveryPK(id), skDelivery),
		UpdateExpression:         aws.String("SET attempts = :n, next_at = :next"),
		ConditionExpression:      aws.String("#status = :pending AND attempts = :prev AND next_at <= :now"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":n": n(int64(attempt)), ":prev": n(int64(attempt - 1)), ":next": millis(next), ":now": millis(now), ":pending": s(outbound.StatusPending),
		},
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim attempt %d of delivery %s: %w", attempt, id, err)
	}
	return true, nil
}

// Record implements outbound.Deliveries: the attempt is kept first, so a
// delivery's outcome never names an attempt that is not there.
func (st *OutboundDeliveries) Record(ctx context.Context, d outbound.Delivery, a outbound.Attempt, o outbound.Outcome) error {
	item := key(deliveryPK(d.ID), attemptSK(a.N))
	item["at"] = rfc(a.At)
	item["status"] = n(int64(a.Status))
	item["latency_ms"] = n(a.LatencyMS)
	if a.Response != "" {
		item["response"] = s(a.Response)
	}
	if a.Error != "" {
		item["error"] = s(a.Error)
	}
	item[topology.TTL] = epoch(o.At.Add(outboundRetention))
	if _, err := st.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.table), Item: item}); err != nil {
		return fmt.Errorf("store attempt %d of delivery %s: %w", a.N, d.ID, err)
	}
	return st.settle(ctx, d, o)
}

// settle moves d to o's status.
func (st *OutboundDeliveries) settle(ctx context.Context, d outbound.Delivery, o outbound.Outcome) error {
	set := []string{"#status = :status", "#gsk = :gsk", "last_status = :ls", "#ttl = :ttl"}
	remove := []string{}
	vals := map[string]ddb.AttributeValue{
		":status": s(o.Status), ":gsk": s(outboundGSISK(o.Status, gsiTime(o.Status, d.CreatedAt, o.NextAttemptAt), d.ID)), ":ls": n(int64(o.LastStatus)),
		":ttl": epoch(o.At.Add(outboundRetention)),
	}
	if o.LastError != "" {
		set = append(set, "last_error = :le")
		vals[":le"] = s(o.LastError)
	} else {
		remove = append(remove, "last_error")
	}
	switch o.Status {
	case outbound.StatusPending:
		set = append(set, "next_at = :next")
		vals[":next"] = millis(o.NextAttemptAt)
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
		TableName: aws.String(st.table), Key: key(deliveryPK(d.ID), skDelivery),
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
func (st *OutboundDeliveries) Fail(ctx context.Context, d outbound.Delivery, at time.Time, reason string) error {
	return st.settle(ctx, d, outbound.Outcome{Status: outbound.StatusFailed, At: at, LastStatus: d.LastStatus, LastError: reason})
}

// Reopen implements outbound.Deliveries.
func (st *OutboundDeliveries) Reopen(ctx context.Context, d outbound.Delivery, now time.Time) (bool, error) {
	_, err := st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: key(deliveryPK(d.ID), skDelivery),
		UpdateExpression: aws.String("SET #status = :pending, #gsk = :gsk, next_at = :now, round_started_at = :round, round_base = attempts, " +
			"replays = if_not_exists(replays, :zero) + :one, #ttl = :ttl REMOVE failed_at, delivered_at"),
		ConditionExpression:      aws.String("attribute_exists(#pk) AND #status <> :pending"),
		ExpressionAttributeNames: map[string]string{"#status": "status", "#gsk": topology.GSI1SK, "#ttl": topology.TTL, "#pk": topology.PK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":pending": s(outbound.StatusPending), ":gsk": s(outboundGSISK(outbound.StatusPending, now, d.ID)),
			":now": millis(now), ":round": rfc(now), ":zero": n(0), ":one": n(1), ":ttl": epoch(now.Add(outboundRetention)),
		},
	})
	if conditionFailed(err) {
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
func (st *OutboundDeliveries) List(ctx context.Context, q outbound.Query) ([]outbound.Delivery, string, error) {
	in := &dynamodb.QueryInput{
		TableName: aws.String(st.table), IndexName: aws.String(topology.GSI1Index),
		KeyConditionExpression:    aws.String("#gpk = :gpk"),
		ExpressionAttributeNames:  map[string]string{"#gpk": topology.GSI1PK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":gpk": s(outboundGSI(q.Endpoint))},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(max(1, q.Limit))),
	}
	switch {
	case !q.DueBy.IsZero():
		in.KeyConditionExpression = aws.String("#gpk = :gpk AND #gsk BETWEEN :from AND :to")
		in.ExpressionAttributeNames["#gsk"] = topology.GSI1SK
		in.ExpressionAttributeValues[":from"] = s(outbound.StatusPending + "#")
		in.ExpressionAttributeValues[":to"] = s(outbound.StatusPending + "#" + q.DueBy.UTC().Format(sortable) + "#~")
		in.ScanIndexForward = aws.Bool(true)
	case q.Status != "":
		in.KeyConditionExpression = aws.String("#gpk = :gpk AND begins_with(#gsk, :status)")
		in.ExpressionAttributeNames["#gsk"] = topology.GSI1SK
		in.ExpressionAttributeValues[":status"] = s(q.Status + "#")
	}
	if q.Cursor != "" {
		start, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", outbound.ErrBadCursor, err)
		}
		in.ExclusiveStartKey = start
	}
	out, err := st.client.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries of %s: %w", q.Endpoint, err)
	}
	page := make([]outbound.Delivery, 0, len(out.Items))
	for _, it := range out.Items {
		page = append(page, decodeDelivery(it))
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 {
		next = encodeCursor(out.LastEvaluatedKey)
	}
	return page, next, nil
}

// Attempts implements outbound.Deliveries, in order.
func (st *OutboundDeliveries) Attempts(ctx context.Context, id string) ([]outbound.Attempt, error) {
	var out []outbound.Attempt
	err := queryAll(ctx, st.client, &dynamodb.QueryInput{
		TableName:                 aws.String(st.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :a)"),
		ExpressionAttributeNames:  map[string]string{"#pk": topology.PK, "#sk": topology.SK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": s(deliveryPK(id)), ":a": s("attempt#")},
		ConsistentRead:            aws.Bool(true),
	}, func(item map[string]ddb.AttributeValue) error {
		nn, _ := strconv.Atoi(strings.TrimPrefix(str(item, topology.SK), "attempt#"))
		out = append(out, outbound.Attempt{N: nn, At: timeOf(item, "at"), Status: int(num(item, "status")), LatencyMS: num(item, "latency_ms"),
			Response: str(item, "response"), Error: str(item, "error")})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list attempts of delivery %s: %w", id, err)
	}
	return out, nil
}

// OutboundEndpoints is outbound.Endpoints on DynamoDB.
type OutboundEndpoints struct {
	client *dynamodb.Client
	table  string
}

var _ outbound.Endpoints = (*OutboundEndpoints)(nil)

// NewOutboundEndpoints returns the endpoints' state over table (the outbound table).
func NewOutboundEndpoints(client *dynamodb.Client, table string) *OutboundEndpoints {
	return &OutboundEndpoints{client: client, table: table}
}

func decodeEndpoint(id string, item map[string]ddb.AttributeValue) outbound.EndpointState {
	e := outbound.EndpointState{ID: id, DisabledAt: timeOf(item, "disabled_at"), DisabledReason: str(item, "disabled_reason"),
		FailingSince: timeOf(item, "failing_since"), ConsecutiveFailures: int(num(item, "consecutive")),
		LastSuccessAt: timeOf(item, "last_success_at"), EnabledBy: str(item, "enabled_by")}
	if b, ok := item["disabled"].(*ddb.AttributeValueMemberBOOL); ok {
		e.Disabled = b.Value
	}
	return e
}

// Get implements outbound.Endpoints.
func (st *OutboundEndpoints) Get(ctx context.Context, id string) (outbound.EndpointState, error) {
	out, err := st.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: key(endpointPK(id), skEndpoint), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return outbound.EndpointState{}, fmt.Errorf("read endpoint %s: %w", id, err)
	}
	return decodeEndpoint(id, out.Item), nil
}

func (st *OutboundEndpoints) update(ctx context.Context, id, expr, cond string, vals map[string]ddb.AttributeValue) (map[string]ddb.AttributeValue, error) {
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: key(endpointPK(id), skEndpoint),
		UpdateExpression: aws.String(expr), ExpressionAttributeValues: vals, ReturnValues: ddb.ReturnValueAllNew,
	}
	if cond != "" {
		in.ConditionExpression = aws.String(cond)
	}
	out, err := st.client.UpdateItem(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.Attributes, nil
}

// Failed implements outbound.Endpoints.
func (st *OutboundEndpoints) Failed(ctx context.Context, id string, now time.Time) (outbound.EndpointState, error) {
	item, err := st.update(ctx, id, "SET consecutive = if_not_exists(consecutive, :zero) + :one, failing_since = if_not_exists(failing_since, :now)", "",
		map[string]ddb.AttributeValue{":zero": n(0), ":one": n(1), ":now": rfc(now)})
	if err != nil {
		return outbound.EndpointState{}, fmt.Errorf("count a failure of endpoint %s: %w", id, err)
	}
	return decodeEndpoint(id, item), nil
}

// Succeeded implements outbound.Endpoints.
func (st *OutboundEndpoints) Succeeded(ctx context.Context, id string, now time.Time) error {
	if _, err := st.update(ctx, id, "SET consecutive = :zero, last_success_at = :now REMOVE failing_since", "",
		map[string]ddb.AttributeValue{":zero": n(0), ":now": rfc(now)}); err != nil {
		return fmt.Errorf("record a success of endpoint %s: %w", id, err)
	}
	return nil
}

// Disable implements outbound.Endpoints.
func (st *OutboundEndpoints) Disable(ctx context.Context, id string, now time.Time, reason string) (bool, error) {
	_, err := st.update(ctx, id, "SET disabled = :t, disabled_at = :now, disabled_reason = :why", "attribute_not_exists(disabled) OR disabled = :f",
		map[string]ddb.AttributeValue{":t": &ddb.AttributeValueMemberBOOL{Value: true}, ":f": &ddb.AttributeValueMemberBOOL{Value: false},
			":now": rfc(now), ":why": s(reason)})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("disable endpoint %s: %w", id, err)
	}
	return true, nil
}

// Enable implements outbound.Endpoints.
func (st *OutboundEndpoints) Enable(ctx context.Context, id string, now time.Time, by string) error {
	if _, err := st.update(ctx, id, "SET disabled = :f, consecutive = :zero, enabled_at = :now, enabled_by = :by REMOVE failing_since, disabled_at, disabled_reason", "",
		map[string]ddb.AttributeValue{":f": &ddb.AttributeValueMemberBOOL{Value: false}, ":zero": n(0), ":now": rfc(now), ":by": s(by)}); err != nil {
		return fmt.Errorf("enable endpoint %s: %w", id, err)
	}
	return nil
}
