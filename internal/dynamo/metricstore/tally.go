package metricstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/dynamo/identitystore"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/rollup"
)

// Tally implements rollup.TallyStore: counters in the metrics table; the
// counted-event markers and the contact and journey-instance records the
// counting keeps in the customers table, where they expire on their own
// (the metrics table keeps what it has forever).
type Tally struct {
	client    *dynamodb.Client
	metrics   string
	customers string
}

var _ rollup.TallyStore = (*Tally)(nil)

// NewTally returns the store.
func NewTally(client *dynamodb.Client, metricsTable, customersTable string) *Tally {
	return &Tally{client: client, metrics: metricsTable, customers: customersTable}
}

// Items of the customers table the counting owns; their sort key is
// always "tally".
func tallyMarker(key string) map[string]ddb.AttributeValue { return tallyKey("tally#event#" + key) }
func tallyContacts(cid string) map[string]ddb.AttributeValue {
	return tallyKey("tally#contacts#" + cid)
}
func tallyInstance(k string) map[string]ddb.AttributeValue { return tallyKey("tally#journey#" + k) }
func tallyKey(pk string) map[string]ddb.AttributeValue     { return dynamo.ItemKey(pk, "tally") }

// instanceMemory is how long a journey instance's record outlives its
// last event: longer than any stage lasts.
const instanceMemory = 400 * 24 * time.Hour

// CustomerOf is the customer the keys belong to (identitystore.Owners).
func (t *Tally) CustomerOf(ctx context.Context, keys []identity.Key) (string, error) {
	return identitystore.NewOwners(t.client, t.customers).CustomerOf(ctx, keys)
}

func (t *Tally) record(ctx context.Context, k map[string]ddb.AttributeValue, into any) (int64, error) {
	out, err := t.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.customers), Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, err
	}
	if out.Item == nil {
		return 0, nil
	}
	if err := json.Unmarshal([]byte(dynamo.GetS(out.Item, "state")), into); err != nil {
		return 0, fmt.Errorf("decode %s: %w", dynamo.GetS(out.Item, "pk"), err)
	}
	return dynamo.GetN(out.Item, "version"), nil
}

// Contacts implements rollup.TallyStore.
func (t *Tally) Contacts(ctx context.Context, cid string) (metric.Contacts, int64, error) {
	var h metric.Contacts
	v, err := t.record(ctx, tallyContacts(cid), &h)
	return h, v, err
}

// Instance implements rollup.TallyStore.
func (t *Tally) Instance(ctx context.Context, k string) (metric.Instance, int64, error) {
	var s metric.Instance
	v, err := t.record(ctx, tallyInstance(k), &s)
	return s, v, err
}

func (t *Tally) recordPut(k map[string]ddb.AttributeValue, state any, version int64, expires time.Time) (ddb.TransactWriteItem, error) {
	b, err := json.Marshal(state)
	if err != nil {
		return ddb.TransactWriteItem{}, fmt.Errorf("encode %s: %w", dynamo.GetS(k, "pk"), err)
	}
	item := k
	item["state"] = dynamo.AttrS(string(b))
	item["version"] = dynamo.AttrN(version + 1)
	item["expires_at"] = dynamo.AttrEpoch(expires)
	put := &ddb.Put{TableName: aws.String(t.customers), Item: item}
	if version == 0 {
		put.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		put.ConditionExpression = aws.String("version = :v")
		put.ExpressionAttributeValues = map[string]ddb.AttributeValue{":v": dynamo.AttrN(version)}
	}
	return ddb.TransactWriteItem{Put: put}, nil
}

// Commit writes the events' markers, their merged counter deltas and the
// records they changed in one transaction. The markers come first: a
// marker's condition failing means its event was counted before.
func (t *Tally) Commit(ctx context.Context, tx rollup.Tx) error {
	items := make([]ddb.TransactWriteItem, 0, len(tx.Keys)+len(tx.Deltas)+len(tx.Contacts)+len(tx.Instances))
	for _, k := range tx.Keys {
		marker := tallyMarker(k)
		marker["expires_at"] = dynamo.AttrEpoch(tx.Now.Add(dynamo.EventMemory))
		items = append(items, ddb.TransactWriteItem{Put: &ddb.Put{
			TableName: aws.String(t.customers), Item: marker, ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}})
	}
	for _, d := range metric.Merge(tx.Deltas) {
		items = append(items, deltaUpdate(t.metrics, d, tx.Now))
	}
	for _, w := range tx.Contacts {
		put, err := t.recordPut(tallyContacts(w.CustomerID), w.State, w.Version, w.State.Until())
		if err != nil {
			return err
		}
		items = append(items, put)
	}
	for _, w := range tx.Instances {
		put, err := t.recordPut(tallyInstance(w.Key), w.State, w.Version, tx.Now.Add(instanceMemory))
		if err != nil {
			return err
		}
		items = append(items, put)
	}
	if len(items) > rollup.MaxTxItems {
		return fmt.Errorf("%d events need %d writes, over DynamoDB's %d per transaction", len(tx.Keys), len(items), rollup.MaxTxItems)
	}
	_, err := t.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var tc *ddb.TransactionCanceledException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tc):
		var dup []string
		for i, k := range tx.Keys {
			if i < len(tc.CancellationReasons) && aws.ToString(tc.CancellationReasons[i].Code) == "ConditionalCheckFailed" {
				dup = append(dup, k)
			}
		}
		if len(dup) > 0 {
			return &rollup.DuplicateError{Keys: dup}
		}
		// A record's version moved, or another batch's transaction held a
		// counter: read again and retry.
		return fmt.Errorf("count %d events: %w (%s)", len(tx.Keys), rollup.ErrConflict, reasons(tc))
	}
	return fmt.Errorf("count %d events: %w", len(tx.Keys), err)
}

func reasons(tc *ddb.TransactionCanceledException) string {
	var out []string
	for _, r := range tc.CancellationReasons {
		if c := aws.ToString(r.Code); c != "" && c != "None" {
			out = append(out, c)
		}
	}
	return strings.Join(out, ",")
}
