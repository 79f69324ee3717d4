package customerstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/dynamo/failurestore"
	"github.com/ocxhq/ocx/internal/dynamo/loopstore"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/topology"
)

// CustomerFailures implements customer.Failures on the failures table.
// Failure records name their customer by OCX id or by the identity the
// triggering event carried, and the table has no index by customer, so it
// reads the time-ordered failures index and filters: bounded by Window for
// a customer view, complete for an erasure (which is rare).
type CustomerFailures struct {
	client *dynamodb.Client
	table  string
	// Window is how far back a customer view looks for open failures.
	Window time.Duration
	// MaxScan bounds the records a customer view reads.
	MaxScan int
	Now     func() time.Time
}

// NewCustomerFailures returns the adapter with a 30-day, 2000-record view.
func NewCustomerFailures(client *dynamodb.Client, table string) *CustomerFailures {
	return &CustomerFailures{client: client, table: table, Window: 30 * 24 * time.Hour, MaxScan: 2000, Now: time.Now}
}

// Open returns the subject's unresolved failures (open or acknowledged)
// from the last Window, newest first.
func (f *CustomerFailures) Open(ctx context.Context, subj customer.Subject) ([]events.Failure, error) {
	since := f.Now().Add(-f.Window).UTC().Format(time.RFC3339Nano)
	var out []events.Failure
	err := f.scan(ctx, since, f.MaxScan, func(fl events.Failure, state string, _ map[string]ddb.AttributeValue) error {
		if state != "resolved" && concerns(fl, subj) {
			out = append(out, fl)
		}
		return nil
	})
	return out, err
}

// Raised implements customer.Raiser: the subject's failures from the last
// Window in every state, newest first.
func (f *CustomerFailures) Raised(ctx context.Context, subj customer.Subject) ([]events.Failure, error) {
	since := f.Now().Add(-f.Window).UTC().Format(time.RFC3339Nano)
	var out []events.Failure
	err := f.scan(ctx, since, f.MaxScan, func(fl events.Failure, state string, _ map[string]ddb.AttributeValue) error {
		if concerns(fl, subj) {
			fl.State = state
			out = append(out, fl)
		}
		return nil
	})
	return out, err
}

var _ customer.Raiser = (*CustomerFailures)(nil)

// Erase deletes every failure record of the subject.
func (f *CustomerFailures) Erase(ctx context.Context, subj customer.Subject) (int, error) {
	var doomed []map[string]ddb.AttributeValue
	err := f.scan(ctx, "", 0, func(fl events.Failure, _ string, it map[string]ddb.AttributeValue) error {
		if concerns(fl, subj) {
			doomed = append(doomed, dynamo.ItemKey(dynamo.GetS(it, topology.PK), dynamo.GetS(it, topology.SK)))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	notes := failurestore.NewNotebook(f.client, f.table)
	for _, k := range doomed {
		// Notes may name the customer: they go with the failure.
		if err := notes.EraseActivity(ctx, strings.TrimPrefix(dynamo.GetS(k, topology.PK), "failure#")); err != nil {
			return 0, err
		}
		// So does its closed loop (the customer's id, the ticket).
		if err := loopstore.NewLoops(f.client, f.table).Erase(ctx, strings.TrimPrefix(dynamo.GetS(k, topology.PK), "failure#")); err != nil {
			return 0, err
		}
		if _, err := f.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(f.table), Key: k}); err != nil {
			return 0, fmt.Errorf("delete failure %s: %w", dynamo.GetS(k, topology.PK), err)
		}
	}
	return len(doomed), nil
}

// scan reads the failures index newest first down to since ("" for all),
// at most limit records (0 for all).
func (f *CustomerFailures) scan(ctx context.Context, since string, limit int, each func(events.Failure, string, map[string]ddb.AttributeValue) error) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(f.table),
		IndexName:                 aws.String(topology.GSI1Index),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": topology.GSI1PK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS("failures")},
		ScanIndexForward:          aws.Bool(false),
	}
	if since != "" {
		*in.KeyConditionExpression += " AND #sk >= :since"
		in.ExpressionAttributeNames["#sk"] = topology.GSI1SK
		in.ExpressionAttributeValues[":since"] = dynamo.AttrS(since)
	}
	seen := 0
	err := dynamo.Query(ctx, f.client, in, func(it map[string]ddb.AttributeValue) error {
		if limit > 0 && seen >= limit {
			return dynamo.ErrStop
		}
		seen++
		var fl events.Failure
		if err := dynamo.UnmarshalDoc(it, "failure", &fl); err != nil {
			return fmt.Errorf("decode failure %s: %w", dynamo.GetS(it, topology.PK), err)
		}
		state := dynamo.GetS(it, "state")
		if fl.State != "" {
			state = fl.State
		}
		return each(fl, state, it)
	})
	if err != nil {
		return fmt.Errorf("read failures: %w", err)
	}
	return nil
}

// concerns reports whether a failure names the subject: by customer id,
// email address or phone number, or through the identity its evidence
// carried (which says its channel).
func concerns(fl events.Failure, subj customer.Subject) bool {
	keys := make(map[identity.Key]bool, len(subj.Keys))
	values := make(map[string]bool, len(subj.Keys)+len(subj.CustomerIDs))
	for _, k := range subj.Keys {
		keys[k] = true
		// A bare provider id ("1001") may be another channel's customer;
		// only addresses and numbers are unambiguous without the channel.
		if kind := k.Kind(); kind == "email" || kind == "phone" {
			values[k.Value()] = true
		}
	}
	for _, id := range subj.CustomerIDs {
		values[id] = true
	}
	if fl.CustomerID != "" && values[fl.CustomerID] {
		return true
	}
	for _, ev := range fl.Evidence {
		for _, k := range identity.Keys(ev.Channel, ev.Customer) {
			if keys[k] {
				return true
			}
		}
	}
	return false
}
