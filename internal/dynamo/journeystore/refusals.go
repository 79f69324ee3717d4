package journeystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/topology"
)

// Refusals implements journey.Refusals (and the API's listing of them) in
// the customers table.
type Refusals struct {
	client    *dynamodb.Client
	customers string
}

var (
	_ journey.Refusals      = (*Refusals)(nil)
	_ journey.RefusalLister = (*Refusals)(nil)
)

// NewRefusals returns the store over the customers table.
func NewRefusals(client *dynamodb.Client, customersTable string) *Refusals {
	return &Refusals{client: client, customers: customersTable}
}

// refusalsPK holds every refusal in one partition, sorted by time: they
// are rare (each one is a guardrail doing its job) and read newest first.
const refusalsPK = "refusals"

// RefusalMemory is how long a refusal stays listed.
const RefusalMemory = 90 * 24 * time.Hour

// Refuse records a refused merge or link; recording the same refusal
// again (a redelivered cause) changes nothing.
func (c *Refusals) Refuse(ctx context.Context, r journey.Refusal) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode refusal %s: %w", r.ID, err)
	}
	item := dynamo.ItemKey(refusalsPK, r.At.UTC().Format(time.RFC3339Nano)+"#"+r.ID)
	item["refusal"] = dynamo.AttrS(string(b))
	item["expires_at"] = dynamo.AttrEpoch(r.At.Add(RefusalMemory))
	dup := dynamo.ItemKey("refusal#"+r.ID, "marker")
	dup["expires_at"] = dynamo.AttrEpoch(r.At.Add(RefusalMemory))
	_, err = c.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddb.TransactWriteItem{
		{Put: &ddb.Put{TableName: aws.String(c.customers), Item: dup, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &ddb.Put{TableName: aws.String(c.customers), Item: item}},
	}})
	if dynamo.TransactionConditionFailed(err, 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record refusal %s: %w", r.ID, err)
	}
	return nil
}

// Refused lists refusals newest first, limit at a time.
func (c *Refusals) Refused(ctx context.Context, cursor string, limit int) ([]journey.Refusal, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(c.customers),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": topology.PK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS(refusalsPK)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	}
	ours := func(k map[string]ddb.AttributeValue) error {
		if len(k) != 2 || dynamo.GetS(k, topology.PK) != refusalsPK || dynamo.GetS(k, topology.SK) == "" {
			return errors.New("not a key of this listing")
		}
		return nil
	}
	items, next, err := dynamo.Page(ctx, c.client, in, cursor, ours)
	if errors.Is(err, dynamo.ErrBadCursor) {
		return nil, "", fmt.Errorf("%w: %w", journey.ErrBadCursor, err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list refusals: %w", err)
	}
	list := make([]journey.Refusal, 0, len(items))
	for _, it := range items {
		var r journey.Refusal
		if err := json.Unmarshal([]byte(dynamo.GetS(it, "refusal")), &r); err != nil {
			return nil, "", fmt.Errorf("decode refusal: %w", err)
		}
		list = append(list, r)
	}
	return list, next, nil
}
