// Package dynamo is what the DynamoDB adapters share: the topology's tables,
// attribute helpers, paging and the item layouts two adapters both read.
// Each adapter lives in a package below, named for the domain it stores,
// one type and file per domain port, so a function links only its own
// stores. Their tests run here, together, against the emulator.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/topology"
)

// CreateTables creates the topology's tables under physical names
// (logical name -> physical name), skipping tables that exist. The local
// stack and the tests provision exactly what the CDK app deploys.
func CreateTables(ctx context.Context, c *dynamodb.Client, names map[string]string) error {
	for _, t := range topology.Tables {
		name := names[t.Name]
		if err := createTable(ctx, c, name, t); err != nil {
			return err
		}
	}
	return nil
}

func createTable(ctx context.Context, c *dynamodb.Client, name string, t topology.Table) error {
	attrs := map[string]bool{topology.PK: true, topology.SK: true}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddb.BillingModePayPerRequest,
		KeySchema: []ddb.KeySchemaElement{
			{AttributeName: aws.String(topology.PK), KeyType: ddb.KeyTypeHash},
			{AttributeName: aws.String(topology.SK), KeyType: ddb.KeyTypeRange},
		},
	}
	for _, ix := range t.Indexes {
		attrs[ix.PartitionKey], attrs[ix.SortKey] = true, true
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddb.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name),
			KeySchema: []ddb.KeySchemaElement{
				{AttributeName: aws.String(ix.PartitionKey), KeyType: ddb.KeyTypeHash},
				{AttributeName: aws.String(ix.SortKey), KeyType: ddb.KeyTypeRange},
			},
			Projection: &ddb.Projection{ProjectionType: ddb.ProjectionTypeAll},
		})
	}
	for a := range attrs {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddb.AttributeDefinition{AttributeName: aws.String(a), AttributeType: ddb.ScalarAttributeTypeS})
	}
	_, err := c.CreateTable(ctx, in)
	var inUse *ddb.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	if t.TTL != "" {
		_, err = c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(name),
			TimeToLiveSpecification: &ddb.TimeToLiveSpecification{AttributeName: aws.String(t.TTL), Enabled: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("enable TTL on %s: %w", name, err)
		}
	}
	return nil
}

// conditionFailed reports whether err is a failed condition on a single
// write.
func ConditionFailed(err error) bool {
	var cf *ddb.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// transactionConditionFailed reports whether a transaction was cancelled
// because the item at position i failed its condition.
func TransactionConditionFailed(err error, i int) bool {
	var tc *ddb.TransactionCanceledException
	if !errors.As(err, &tc) || i >= len(tc.CancellationReasons) {
		return false
	}
	return aws.ToString(tc.CancellationReasons[i].Code) == "ConditionalCheckFailed"
}

func AttrS(v string) ddb.AttributeValue { return &ddb.AttributeValueMemberS{Value: v} }

func AttrN(v int64) ddb.AttributeValue {
	return &ddb.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func ItemKey(pk, sk string) map[string]ddb.AttributeValue {
	return map[string]ddb.AttributeValue{topology.PK: AttrS(pk), topology.SK: AttrS(sk)}
}

func AttrEpoch(t time.Time) ddb.AttributeValue { return AttrN(t.Unix()) }

func GetS(item map[string]ddb.AttributeValue, name string) string {
	if v, ok := item[name].(*ddb.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func GetN(item map[string]ddb.AttributeValue, name string) int64 {
	if v, ok := item[name].(*ddb.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(v.Value, 10, 64)
		return i
	}
	return 0
}

func GetSS(item map[string]ddb.AttributeValue, name string) []string {
	switch v := item[name].(type) {
	case *ddb.AttributeValueMemberSS:
		return v.Value
	case *ddb.AttributeValueMemberL:
		out := make([]string, 0, len(v.Value))
		for _, e := range v.Value {
			if sv, ok := e.(*ddb.AttributeValueMemberS); ok {
				out = append(out, sv.Value)
			}
		}
		return out
	}
	return nil
}

// ErrBadCursor is returned for a page token that does not decode.
var ErrBadCursor = errors.New("bad cursor")

// Sortable formats times so that they sort as strings: fixed width, UTC.
const Sortable = "2006-01-02T15:04:05.000000000Z"

// TransactionConflict reports whether a transaction was cancelled because
// another transaction held one of its items.
func TransactionConflict(err error) bool {
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

// BatchGet reads keys from table, strongly consistent, 100 at a time,
// retrying what DynamoDB leaves unprocessed (throttling) a few times.
func BatchGet(ctx context.Context, c *dynamodb.Client, table string, keys []map[string]ddb.AttributeValue) ([]map[string]ddb.AttributeValue, error) {
	var out []map[string]ddb.AttributeValue
	for start := 0; start < len(keys); start += 100 {
		pending := keys[start:min(start+100, len(keys))]
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == 5 {
				return nil, fmt.Errorf("%d keys still unprocessed (throttled); retry", len(pending))
			}
			if attempt > 0 {
				time.Sleep(time.Duration(attempt*attempt) * 20 * time.Millisecond)
			}
			res, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]ddb.KeysAndAttributes{table: {Keys: pending, ConsistentRead: aws.Bool(true)}},
			})
			if err != nil {
				return nil, err
			}
			out = append(out, res.Responses[table]...)
			pending = res.UnprocessedKeys[table].Keys
		}
	}
	return out, nil
}

// EventMemory is how long an applied event id is remembered for dedupe;
// EventBridge and Lambda redeliver within hours, not weeks.
const EventMemory = 30 * 24 * time.Hour

// AttrMillis is a time in epoch milliseconds, compared in conditions.
func AttrMillis(t time.Time) ddb.AttributeValue { return AttrN(t.UnixMilli()) }
