package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channelhealth"
	"github.com/ocxhq/ocx/internal/ingest"
)

// TallyRetention is how long a channel's minutes are kept: the health
// view's longest window and a day to spare.
const TallyRetention = 8 * 24 * time.Hour

// IntakeTallies keeps the ingest function's per-minute tallies in the
// intake table: one item per channel and minute, each environment's tally
// added into it, and one item per channel holding its last accepted
// delivery. Two writes per channel and minute per environment, none per
// request.
type IntakeTallies struct {
	client *dynamodb.Client
	table  string
}

var (
	_ ingest.TallyStore     = (*IntakeTallies)(nil)
	_ channelhealth.Tallies = (*IntakeTallies)(nil)
)

// NewIntakeTallies returns the store.
func NewIntakeTallies(client *dynamodb.Client, table string) *IntakeTallies {
	return &IntakeTallies{client: client, table: table}
}

const tallyMinute = "2006-01-02T15:04Z"

// lastTime orders as a string: fixed width, UTC.
const lastTime = "2006-01-02T15:04:05.000000000Z"

var tallyCounts = []string{"accepted", "duplicate", "rejected_signature", "rejected_other", "unavailable", "events", "ignored", "quarantined"}

func tallyValues(t events.IntakeTally) []int {
	return []int{t.Accepted, t.Duplicate, t.RejectedSignature, t.RejectedOther, t.Unavailable, t.Events, t.Ignored, t.Quarantined}
}

// Add adds one environment's tally of a minute into the channel's minute.
func (st *IntakeTallies) Add(ctx context.Context, t events.IntakeTally) error {
	names := map[string]string{"#x": "expires_at"}
	values := map[string]ddb.AttributeValue{":x": epoch(t.OccurredAt.Add(TallyRetention))}
	expr := ""
	for i, v := range tallyValues(t) {
		n := "#c" + strconv.Itoa(i)
		names[n] = tallyCounts[i]
		values[":c"+strconv.Itoa(i)] = n64(v)
		if expr != "" {
			expr += ", "
		}
		expr += n + " :c" + strconv.Itoa(i)
	}
	_, err := st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: key("intake#"+t.Channel, "minute#"+t.OccurredAt.UTC().Format(tallyMinute)),
		UpdateExpression:          aws.String("ADD " + expr + " SET #x = :x"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("add tally of channel %s: %w", t.Channel, err)
	}
	if t.LastAcceptedAt.IsZero() {
		return nil
	}
	at := t.LastAcceptedAt.UTC().Format(lastTime)
	_, err = st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: key("intake#"+t.Channel, "last"),
		UpdateExpression:          aws.String("SET #t = :t"),
		ConditionExpression:       aws.String("attribute_not_exists(#t) OR #t < :t"),
		ExpressionAttributeNames:  map[string]string{"#t": "last_accepted_at"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":t": s(at)},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("record last delivery of channel %s: %w", t.Channel, err)
	}
	return nil
}

func n64(v int) ddb.AttributeValue { return n(int64(v)) }

// Window sums the channel's minutes in [from, to).
func (st *IntakeTallies) Window(ctx context.Context, channel string, from, to time.Time) (channelhealth.Counts, error) {
	var c channelhealth.Counts
	in := &dynamodb.QueryInput{
		TableName:              aws.String(st.table),
		KeyConditionExpression: aws.String("pk = :p AND sk BETWEEN :a AND :b"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":p": s("intake#" + channel),
			":a": s("minute#" + from.UTC().Format(tallyMinute)),
			// The last minute before to: BETWEEN is inclusive.
			":b": s("minute#" + to.UTC().Add(-time.Minute).Format(tallyMinute)),
		},
	}
	for {
		out, err := st.client.Query(ctx, in)
		if err != nil {
			return c, fmt.Errorf("query tallies of channel %s: %w", channel, err)
		}
		for _, it := range out.Items {
			var t events.IntakeTally
			fields := []*int{&t.Accepted, &t.Duplicate, &t.RejectedSignature, &t.RejectedOther, &t.Unavailable, &t.Events, &t.Ignored, &t.Quarantined}
			for i, name := range tallyCounts {
				if v, ok := it[name].(*ddb.AttributeValueMemberN); ok {
					*fields[i], _ = strconv.Atoi(v.Value)
				}
			}
			c.Add(t)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return c, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// LastAccepted is the channel's last accepted delivery, zero if none.
func (st *IntakeTallies) LastAccepted(ctx context.Context, channel string) (time.Time, error) {
	out, err := st.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: key("intake#"+channel, "last")})
	if err != nil {
		return time.Time{}, fmt.Errorf("get last delivery of channel %s: %w", channel, err)
	}
	v := str(out.Item, "last_accepted_at")
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("decode last delivery of channel %s: %w", channel, err)
	}
	return t, nil
}
