package motoserver

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/awsclient"
)

// Measured write units follow what DynamoDB bills: the larger of an item's
// sizes, doubled in a transaction, plus the index entries a write puts,
// moves or deletes. Each step's expected units are worked out by hand.
func TestMeasuredWriteUnits(t *testing.T) {
	ctx := context.Background()
	s, c := meteredMoto(t)
	str := func(k string) ddb.AttributeDefinition {
		return ddb.AttributeDefinition{AttributeName: aws.String(k), AttributeType: ddb.ScalarAttributeTypeS}
	}
	key := func(h, r string) []ddb.KeySchemaElement {
		return []ddb.KeySchemaElement{{AttributeName: aws.String(h), KeyType: ddb.KeyTypeHash}, {AttributeName: aws.String(r), KeyType: ddb.KeyTypeRange}}
	}
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("t"), BillingMode: ddb.BillingModePayPerRequest,
		AttributeDefinitions: []ddb.AttributeDefinition{str("pk"), str("sk"), str("g"), str("gs")},
		KeySchema:            key("pk", "sk"),
		GlobalSecondaryIndexes: []ddb.GlobalSecondaryIndex{{IndexName: aws.String("gi"), KeySchema: key("g", "gs"),
			Projection: &ddb.Projection{ProjectionType: ddb.ProjectionTypeAll}}},
	}); err != nil {
		t.Fatal(err)
	}
	s.Meter.MeasureWrites(true)
	sv := func(v string) ddb.AttributeValue { return &ddb.AttributeValueMemberS{Value: v} }
	k := map[string]ddb.AttributeValue{"pk": sv("a"), "sk": sv("x")}
	big := strings.Repeat("b", 1500)
	steps := []struct {
		name  string
		write func() error
		units int
	}{
		{"a small put outside the index", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: map[string]ddb.AttributeValue{"pk": sv("a"), "sk": sv("x"), "v": sv("1")}})
			return err
		}, 1},
		{"an update that puts it in the index", func() error {
			_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: k,
				UpdateExpression: aws.String("SET g = :g, gs = :s"), ExpressionAttributeValues: map[string]ddb.AttributeValue{":g": sv("open"), ":s": sv("1")}})
			return err
		}, 1 + 1},
		{"an update of a plain attribute: the entry changes", func() error {
			_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: k,
				UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: map[string]ddb.AttributeValue{":v": sv("2")}})
			return err
		}, 1 + 1},
		{"an update that makes it 1.5 KB and moves its index key", func() error {
			_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: k,
				UpdateExpression: aws.String("SET v = :v, gs = :s"), ExpressionAttributeValues: map[string]ddb.AttributeValue{":v": sv(big), ":s": sv("2")}})
			return err
		}, 2 + (1 + 2)},
		{"a failed condition on the big item", func() error {
			_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: k,
				UpdateExpression: aws.String("SET v = :v"), ConditionExpression: aws.String("attribute_not_exists(pk)"),
				ExpressionAttributeValues: map[string]ddb.AttributeValue{":v": sv("3")}})
			if err == nil {
				t.Error("the condition held")
			}
			return nil
		}, 2},
		{"a transaction shrinking it and leaving the index", func() error {
			_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddb.TransactWriteItem{{Update: &ddb.Update{
				TableName: aws.String("t"), Key: k, UpdateExpression: aws.String("SET v = :v REMOVE g, gs"),
				ExpressionAttributeValues: map[string]ddb.AttributeValue{":v": sv("4")}}}}})
			return err
		}, 2*2 + 2},
		{"a delete", func() error {
			_, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("t"), Key: k})
			return err
		}, 1},
	}
	for _, st := range steps {
		s.Meter.Reset()
		if err := st.write(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := s.Meter.Snapshot()[WriteUnits]; got != st.units {
			t.Errorf("%s: %d write units, want %d", st.name, got, st.units)
		}
	}
}

// Measured read units follow what DynamoDB bills: per started 4 KB of
// what is read, half for an eventually consistent read, never less than
// one read. Counted in halves.
func TestMeasuredReadUnits(t *testing.T) {
	ctx := context.Background()
	s, c := meteredMoto(t)
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("r"), BillingMode: ddb.BillingModePayPerRequest,
		AttributeDefinitions: []ddb.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddb.ScalarAttributeTypeS}},
		KeySchema:            []ddb.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddb.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	sv := func(v string) ddb.AttributeValue { return &ddb.AttributeValueMemberS{Value: v} }
	for _, it := range []map[string]ddb.AttributeValue{
		{"pk": sv("small"), "v": sv("x")},
		{"pk": sv("big"), "v": sv(strings.Repeat("b", 5000))},
	} {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("r"), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	s.Meter.MeasureWrites(true)
	key := func(k string) map[string]ddb.AttributeValue { return map[string]ddb.AttributeValue{"pk": sv(k)} }
	steps := []struct {
		name   string
		read   func() error
		halves int
		// by is the breakdown's key and its count (ReadPrefix).
		by string
	}{
		{"an eventually consistent get of a small item", func() error {
			_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("r"), Key: key("small")})
			return err
		}, 1, "r small GetItem eventual"},
		{"a consistent get of a 5 KB item", func() error {
			_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("r"), Key: key("big"), ConsistentRead: aws.Bool(true)})
			return err
		}, 2 * 2, "r big GetItem consistent"},
		{"a consistent batch of a small item and an absent one", func() error {
			_, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddb.KeysAndAttributes{
				"r": {Keys: []map[string]ddb.AttributeValue{key("small"), key("none")}, ConsistentRead: aws.Bool(true)}}})
			return err
		}, 2 + 2, ""},
		{"an eventually consistent query of the big item", func() error {
			_, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("r"), KeyConditionExpression: aws.String("pk = :k"),
				ExpressionAttributeValues: map[string]ddb.AttributeValue{":k": sv("big")}})
			return err
		}, 2, "r big Query eventual"},
		{"an eventually consistent query that finds nothing", func() error {
			_, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("r"), KeyConditionExpression: aws.String("pk = :k"),
				ExpressionAttributeValues: map[string]ddb.AttributeValue{":k": sv("none")}})
			return err
		}, 1, "r (no item) Query eventual"},
	}
	for _, st := range steps {
		s.Meter.Reset()
		if err := st.read(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := s.Meter.Snapshot()
		if got[ReadHalfUnits] != st.halves {
			t.Errorf("%s: %d half read units, want %d", st.name, got[ReadHalfUnits], st.halves)
		}
		if st.by != "" && got[ReadPrefix+st.by] != st.halves {
			t.Errorf("%s: %d half read units under %q, want %d (%v)", st.name, got[ReadPrefix+st.by], st.by, st.halves, got)
		}
	}
}

// meteredMoto starts a moto_server of the test's own behind the metering
// proxy and returns it with a client.
func meteredMoto(t *testing.T) (*Server, *dynamodb.Client) {
	t.Helper()
	s, err := Start(context.Background(), Options{Serialize: true})
	if err != nil {
		t.Fatalf("the meter is measured against moto_server: %v", err)
	}
	t.Cleanup(s.Stop)
	cfg, err := awsclient.Load(context.Background(), s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return s, dynamodb.NewFromConfig(cfg)
}
