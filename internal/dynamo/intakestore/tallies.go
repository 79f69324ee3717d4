package intakestore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/ingest"
)

// TallyRetention is how long a channel's minutes are kept: the health
// view's longest window and a day to spare.
const TallyRetention = 8 * 24 * time.Hour

// Tallies keeps the ingest function's per-minute tallies in the
// intake table: one item per channel and minute, each environment's tally
// added into it, and one item per channel holding its last accepted
// delivery. Two writes per channel and minute per environment, none per
// request.
type Tallies struct {
	client *dynamodb.Client
	table  string
}

var _ ingest.TallyStore = (*Tallies)(nil)

// NewTallies returns the store.
func NewTallies(client *dynamodb.Client, table string) *Tallies {
	return &Tallies{client: client, table: table}
}

func tallyValues(t events.IntakeTally) []int {
	return []int{t.Accepted, t.Duplicate, t.RejectedSignature, t.RejectedOther, t.Unavailable, t.Events, t.Ignored, t.Quarantined}
}

// Add adds one environment's tally of a minute into the channel's minute.
func (st *Tallies) Add(ctx context.Context, t events.IntakeTally) error {
	names := map[string]string{"#x": "expires_at"}
	values := map[string]ddb.AttributeValue{":x": dynamo.AttrEpoch(t.OccurredAt.Add(TallyRetention))}
	expr := ""
	for i, v := range tallyValues(t) {
		n := "#c" + strconv.Itoa(i)
		names[n] = dynamo.IntakeTallyCounts[i]
		values[":c"+strconv.Itoa(i)] = n64(v)
		if expr != "" {
			expr += ", "
		}
		expr += n + " :c" + strconv.Itoa(i)
	}
	_, err := st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: dynamo.IntakeMinuteKey(t.Channel, t.OccurredAt),
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
	at := t.LastAcceptedAt.UTC().Format(dynamo.IntakeLastTime)
	_, err = st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: dynamo.IntakeLastKey(t.Channel),
		UpdateExpression:          aws.String("SET #t = :t"),
		ConditionExpression:       aws.String("attribute_not_exists(#t) OR #t < :t"),
		ExpressionAttributeNames:  map[string]string{"#t": "last_accepted_at"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":t": dynamo.AttrS(at)},
	})
	if err != nil && !dynamo.ConditionFailed(err) {
		return fmt.Errorf("record last delivery of channel %s: %w", t.Channel, err)
	}
	return nil
}

func n64(v int) ddb.AttributeValue { return dynamo.AttrN(int64(v)) }
