package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/topology"
)

var _ journey.Refusals = (*Customers)(nil)

// refusalsPK holds every refusal in one partition, sorted by time: they
// are rare (each one is a guardrail doing its job) and read newest first.
const refusalsPK = "refusals"

// RefusalMemory is how long a refusal stays listed.
const RefusalMemory = 90 * 24 * time.Hour

// Refuse records a refused merge or link; recording the same refusal
// again (a redelivered cause) changes nothing.
func (c *Customers) Refuse(ctx context.Context, r journey.Refusal) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode refusal %s: %w", r.ID, err)
	}
	item := key(refusalsPK, r.At.UTC().Format(time.RFC3339Nano)+"#"+r.ID)
	item["refusal"] = s(string(b))
	item["expires_at"] = epoch(r.At.Add(RefusalMemory))
	dup := key("refusal#"+r.ID, "marker")
	dup["expires_at"] = epoch(r.At.Add(RefusalMemory))
	_, err = c.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddb.TransactWriteItem{
		{Put: &ddb.Put{TableName: aws.String(c.customers), Item: dup, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &ddb.Put{TableName: aws.String(c.customers), Item: item}},
	}})
	if transactionConditionFailed(err, 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record refusal %s: %w", r.ID, err)
	}
	return nil
}

// Refused lists refusals newest first, limit at a time.
func (c *Customers) Refused(ctx context.Context, cursor string, limit int) ([]journey.Refusal, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(c.customers),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": topology.PK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": s(refusalsPK)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	}
	if cursor != "" {
		start, err := decodeCursor(cursor)
		if err == nil && (len(start) != 2 || str(start, topology.PK) != refusalsPK || str(start, topology.SK) == "") {
			err = fmt.Errorf("%w: not a key of this listing", ErrBadCursor)
		}
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", journey.ErrBadCursor, err)
		}
		in.ExclusiveStartKey = start
	}
	out, err := c.client.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list refusals: %w", err)
	}
	list := make([]journey.Refusal, 0, len(out.Items))
	for _, it := range out.Items {
		var r journey.Refusal
		if err := json.Unmarshal([]byte(str(it, "refusal")), &r); err != nil {
			return nil, "", fmt.Errorf("decode refusal: %w", err)
		}
		list = append(list, r)
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 {
		next = encodeCursor(out.LastEvaluatedKey)
	}
	return list, next, nil
}
