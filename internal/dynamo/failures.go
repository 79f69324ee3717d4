package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/topology"
)

// Failures implements rules.Store on the failures table.
type Failures struct {
	client *dynamodb.Client
	table  string
}

// NewFailures returns the store.
func NewFailures(client *dynamodb.Client, table string) *Failures {
	return &Failures{client: client, table: table}
}

func failureKey(id string) map[string]ddb.AttributeValue { return key("failure#"+id, "failure") }

// Create stores the failure unless it exists.
func (f *Failures) Create(ctx context.Context, fl events.Failure) (bool, bool, error) {
	body, err := json.Marshal(fl)
	if err != nil {
		return false, false, fmt.Errorf("encode failure: %w", err)
	}
	item := failureKey(fl.ID)
	item["failure"] = s(string(body))
	item["rule_id"] = s(fl.RuleID)
	item["team"] = s(fl.Team)
	item["severity"] = s(fl.Severity)
	item["state"] = s("open")
	item["published"] = &ddb.AttributeValueMemberBOOL{Value: false}
	item[topology.GSI1PK] = s("failures")
	item[topology.GSI1SK] = s(fl.DetectedAt.UTC().Format(time.RFC3339Nano) + "#" + fl.ID)
	_, err = f.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(f.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err == nil {
		return true, false, nil
	}
	if !conditionFailed(err) {
		return false, false, fmt.Errorf("put failure %s: %w", fl.ID, err)
	}
	out, err := f.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.table), Key: failureKey(fl.ID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, false, fmt.Errorf("read failure %s: %w", fl.ID, err)
	}
	pub, _ := out.Item["published"].(*ddb.AttributeValueMemberBOOL)
	return false, pub != nil && pub.Value, nil
}

// MarkPublished records that failure.detected went out.
func (f *Failures) MarkPublished(ctx context.Context, id string) error {
	_, err := f.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(f.table), Key: failureKey(id),
		UpdateExpression:          aws.String("SET published = :t"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":t": &ddb.AttributeValueMemberBOOL{Value: true}},
	})
	if err != nil {
		return fmt.Errorf("mark failure %s published: %w", id, err)
	}
	return nil
}

// Get returns a stored failure.
func (f *Failures) Get(ctx context.Context, id string) (events.Failure, bool, error) {
	out, err := f.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.table), Key: failureKey(id)})
	if err != nil {
		return events.Failure{}, false, fmt.Errorf("read failure %s: %w", id, err)
	}
	if out.Item == nil {
		return events.Failure{}, false, nil
	}
	var fl events.Failure
	if err := json.Unmarshal([]byte(str(out.Item, "failure")), &fl); err != nil {
		return events.Failure{}, false, fmt.Errorf("decode failure %s: %w", id, err)
	}
	return fl, true, nil
}
