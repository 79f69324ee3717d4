package outboundstore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/outbound"
)

// Endpoints is outbound.Endpoints on DynamoDB.
type Endpoints struct {
	client *dynamodb.Client
	table  string
}

var _ outbound.Endpoints = (*Endpoints)(nil)

// NewEndpoints returns the endpoints' state over table (the outbound table).
func NewEndpoints(client *dynamodb.Client, table string) *Endpoints {
	return &Endpoints{client: client, table: table}
}

func decodeEndpoint(id string, item map[string]ddb.AttributeValue) outbound.EndpointState {
	e := outbound.EndpointState{ID: id, DisabledAt: timeOf(item, "disabled_at"), DisabledReason: dynamo.GetS(item, "disabled_reason"),
		FailingSince: timeOf(item, "failing_since"), ConsecutiveFailures: int(dynamo.GetN(item, "consecutive")),
		LastSuccessAt: timeOf(item, "last_success_at"), EnabledBy: dynamo.GetS(item, "enabled_by")}
	if b, ok := item["disabled"].(*ddb.AttributeValueMemberBOOL); ok {
		e.Disabled = b.Value
	}
	return e
}

// Get implements outbound.Endpoints.
func (st *Endpoints) Get(ctx context.Context, id string) (outbound.EndpointState, error) {
	out, err := st.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: dynamo.ItemKey(endpointPK(id), skEndpoint), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return outbound.EndpointState{}, fmt.Errorf("read endpoint %s: %w", id, err)
	}
	return decodeEndpoint(id, out.Item), nil
}

func (st *Endpoints) update(ctx context.Context, id, expr, cond string, vals map[string]ddb.AttributeValue) (map[string]ddb.AttributeValue, error) {
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(st.table), Key: dynamo.ItemKey(endpointPK(id), skEndpoint),
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
func (st *Endpoints) Failed(ctx context.Context, id string, now time.Time) (outbound.EndpointState, error) {
	item, err := st.update(ctx, id, "SET consecutive = if_not_exists(consecutive, :zero) + :one, failing_since = if_not_exists(failing_since, :now)", "",
		map[string]ddb.AttributeValue{":zero": dynamo.AttrN(0), ":one": dynamo.AttrN(1), ":now": rfc(now)})
	if err != nil {
		return outbound.EndpointState{}, fmt.Errorf("count a failure of endpoint %s: %w", id, err)
	}
	return decodeEndpoint(id, item), nil
}

// Succeeded implements outbound.Endpoints.
func (st *Endpoints) Succeeded(ctx context.Context, id string, now time.Time) error {
	if _, err := st.update(ctx, id, "SET consecutive = :zero, last_success_at = :now REMOVE failing_since", "",
		map[string]ddb.AttributeValue{":zero": dynamo.AttrN(0), ":now": rfc(now)}); err != nil {
		return fmt.Errorf("record a success of endpoint %s: %w", id, err)
	}
	return nil
}

// Disable implements outbound.Endpoints.
func (st *Endpoints) Disable(ctx context.Context, id string, now time.Time, reason string) (bool, error) {
	_, err := st.update(ctx, id, "SET disabled = :t, disabled_at = :now, disabled_reason = :why", "attribute_not_exists(disabled) OR disabled = :f",
		map[string]ddb.AttributeValue{":t": &ddb.AttributeValueMemberBOOL{Value: true}, ":f": &ddb.AttributeValueMemberBOOL{Value: false},
			":now": rfc(now), ":why": dynamo.AttrS(reason)})
	if dynamo.ConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("disable endpoint %s: %w", id, err)
	}
	return true, nil
}

// Enable implements outbound.Endpoints.
func (st *Endpoints) Enable(ctx context.Context, id string, now time.Time, by string) error {
	if _, err := st.update(ctx, id, "SET disabled = :f, consecutive = :zero, enabled_at = :now, enabled_by = :by REMOVE failing_since, disabled_at, disabled_reason", "",
		map[string]ddb.AttributeValue{":f": &ddb.AttributeValueMemberBOOL{Value: false}, ":zero": dynamo.AttrN(0), ":now": rfc(now), ":by": dynamo.AttrS(by)}); err != nil {
		return fmt.Errorf("enable endpoint %s: %w", id, err)
	}
	return nil
}
