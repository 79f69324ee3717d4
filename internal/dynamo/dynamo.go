// Package dynamo holds the DynamoDB adapters: the stores the domain packages
// declare as interfaces, implemented over the tables in internal/topology.
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
func conditionFailed(err error) bool {
	var cf *ddb.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// transactionConditionFailed reports whether a transaction was cancelled
// because the item at position i failed its condition.
func transactionConditionFailed(err error, i int) bool {
	var tc *ddb.TransactionCanceledException
	if !errors.As(err, &tc) || i >= len(tc.CancellationReasons) {
		return false
	}
	return aws.ToString(tc.CancellationReasons[i].Code) == "ConditionalCheckFailed"
}

func s(v string) ddb.AttributeValue { return &ddb.AttributeValueMemberS{Value: v} }

func n(v int64) ddb.AttributeValue {
	return &ddb.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func key(pk, sk string) map[string]ddb.AttributeValue {
	return map[string]ddb.AttributeValue{topology.PK: s(pk), topology.SK: s(sk)}
}

func epoch(t time.Time) ddb.AttributeValue { return n(t.Unix()) }

func str(item map[string]ddb.AttributeValue, name string) string {
	if v, ok := item[name].(*ddb.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func num(item map[string]ddb.AttributeValue, name string) int64 {
	if v, ok := item[name].(*ddb.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(v.Value, 10, 64)
		return i
	}
	return 0
}

func strs(item map[string]ddb.AttributeValue, name string) []string {
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
