package failurestore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/failure"
)

// A failure's activity lives in its own partition, beside the record: one
// item per entry (sk "activity#<entry id>", which sorts by time) and the
// current assignment (sk "assignment"). Writing one never touches the
// record, so it cannot race a lifecycle step; erasing the failure's
// customer deletes the partition.

// Notebook implements failure.Notebook on the failures table.
type Notebook struct {
	client *dynamodb.Client
	table  string
}

var _ failure.Notebook = (*Notebook)(nil)

// NewNotebook returns the notebook.
func NewNotebook(client *dynamodb.Client, table string) *Notebook {
	return &Notebook{client: client, table: table}
}

const (
	activityPrefix = "activity#"
	assignmentSK   = "assignment"
)

// Record implements failure.Notebook. An assignment writes the entry and
// the current assignment in one transaction.
func (f *Notebook) Record(ctx context.Context, id string, a failure.Activity) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode activity: %w", err)
	}
	entry := dynamo.ItemKey("failure#"+id, activityPrefix+a.ID)
	entry["activity"] = dynamo.AttrS(string(body))
	if a.Kind != failure.KindAssign {
		_, err := f.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.table), Item: entry})
		if err != nil {
			return fmt.Errorf("put activity of failure %s: %w", id, err)
		}
		return nil
	}
	cur, err := json.Marshal(failure.Assignment{Assignee: a.Assignee, By: a.By, At: a.At})
	if err != nil {
		return fmt.Errorf("encode assignment: %w", err)
	}
	assign := dynamo.ItemKey("failure#"+id, assignmentSK)
	assign["assignment"] = dynamo.AttrS(string(cur))
	_, err = f.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddb.TransactWriteItem{
		{Put: &ddb.Put{TableName: aws.String(f.table), Item: entry}},
		{Put: &ddb.Put{TableName: aws.String(f.table), Item: assign}},
	}})
	if err != nil {
		return fmt.Errorf("assign failure %s: %w", id, err)
	}
	return nil
}

// Activity implements failure.Notebook.
func (f *Notebook) Activity(ctx context.Context, id string) ([]failure.Activity, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(f.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :p)"),
		ExpressionAttributeNames:  map[string]string{"#pk": "pk", "#sk": "sk"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS("failure#" + id), ":p": dynamo.AttrS(activityPrefix)},
		ConsistentRead:            aws.Bool(true),
	}
	var out []failure.Activity
	err := dynamo.Query(ctx, f.client, in, func(it map[string]ddb.AttributeValue) error {
		var a failure.Activity
		if err := json.Unmarshal([]byte(dynamo.GetS(it, "activity")), &a); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read activity of failure %s: %w", id, err)
	}
	return out, nil
}

// Assignments implements failure.Notebook, 100 keys per batch.
func (f *Notebook) Assignments(ctx context.Context, ids []string) (map[string]failure.Assignment, error) {
	out := map[string]failure.Assignment{}
	for start := 0; start < len(ids); start += 100 {
		end := min(start+100, len(ids))
		keys := make([]map[string]ddb.AttributeValue, 0, end-start)
		seen := map[string]bool{}
		for _, id := range ids[start:end] {
			if !seen[id] {
				seen[id] = true
				keys = append(keys, dynamo.ItemKey("failure#"+id, assignmentSK))
			}
		}
		req := map[string]ddb.KeysAndAttributes{f.table: {Keys: keys}}
		for len(req) > 0 {
			res, err := f.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("read failure assignments: %w", err)
			}
			for _, it := range res.Responses[f.table] {
				var a failure.Assignment
				if err := json.Unmarshal([]byte(dynamo.GetS(it, "assignment")), &a); err != nil {
					return nil, fmt.Errorf("decode assignment of %s: %w", dynamo.GetS(it, "pk"), err)
				}
				if a.Assignee != "" {
					out[dynamo.GetS(it, "pk")[len("failure#"):]] = a
				}
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// EraseActivity deletes a failure's activity and assignment items.
func (f *Notebook) EraseActivity(ctx context.Context, id string) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(f.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": "pk", "#sk": "sk"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS("failure#" + id)},
		ProjectionExpression:      aws.String("#pk, #sk"),
	}
	err := dynamo.Query(ctx, f.client, in, func(it map[string]ddb.AttributeValue) error {
		if dynamo.GetS(it, "sk") == "failure" {
			return nil
		}
		_, err := f.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(f.table), Key: dynamo.ItemKey(dynamo.GetS(it, "pk"), dynamo.GetS(it, "sk"))})
		return err
	})
	if err != nil {
		return fmt.Errorf("erase activity of failure %s: %w", id, err)
	}
	return nil
}
