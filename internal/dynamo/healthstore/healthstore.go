// Package healthstore reads the ingest function's per-minute intake
// tallies for the channel health view.
package healthstore

import (
	"context"
	"fmt"
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channelhealth"
	"github.com/ocxhq/ocx/internal/dynamo"
)

// Tallies implements channelhealth.Tallies over the intake table.
type Tallies struct {
	client *dynamodb.Client
	table  string
}

var _ channelhealth.Tallies = (*Tallies)(nil)

// NewTallies returns the reader.
func NewTallies(client *dynamodb.Client, table string) *Tallies {
	return &Tallies{client: client, table: table}
}

// Window sums the channel's minutes in [from, to).
func (st *Tallies) Window(ctx context.Context, channel string, from, to time.Time) (channelhealth.Counts, error) {
	var c channelhealth.Counts
	in := &dynamodb.QueryInput{
		TableName:              aws.String(st.table),
		KeyConditionExpression: aws.String("pk = :p AND sk BETWEEN :a AND :b"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":p": dynamo.AttrS("intake#" + channel),
			":a": dynamo.AttrS("minute#" + from.UTC().Format(dynamo.IntakeMinute)),
			// The last minute before to: BETWEEN is inclusive.
			":b": dynamo.AttrS("minute#" + to.UTC().Add(-time.Minute).Format(dynamo.IntakeMinute)),
		},
	}
	err := dynamo.Query(ctx, st.client, in, func(it map[string]ddb.AttributeValue) error {
		var t events.IntakeTally
		fields := []*int{&t.Accepted, &t.Duplicate, &t.RejectedSignature, &t.RejectedOther, &t.Unavailable, &t.Events, &t.Ignored, &t.Quarantined}
		for i, name := range dynamo.IntakeTallyCounts {
			*fields[i] = int(dynamo.GetN(it, name))
		}
		c.Add(t)
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("query tallies of channel %s: %w", channel, err)
	}
	return c, nil
}

// LastAccepted is the channel's last accepted delivery, zero if none.
func (st *Tallies) LastAccepted(ctx context.Context, channel string) (time.Time, error) {
	out, err := st.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: dynamo.IntakeLastKey(channel)})
	if err != nil {
		return time.Time{}, fmt.Errorf("get last delivery of channel %s: %w", channel, err)
	}
	v := dynamo.GetS(out.Item, "last_accepted_at")
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("decode last delivery of channel %s: %w", channel, err)
	}
	return t, nil
}
