package intakestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/topology"
)

// Quarantine implements ingest.Quarantine on the intake table. Rows are
// indexed by state and creation time, so an operator lists what is still
// quarantined, newest first, without a scan.
type Quarantine struct {
	client *dynamodb.Client
	table  string
}

// NewQuarantine returns the store.
func NewQuarantine(client *dynamodb.Client, table string) *Quarantine {
	return &Quarantine{client: client, table: table}
}

func badRowKey(id string) map[string]ddb.AttributeValue {
	return dynamo.ItemKey("badrow#"+id, "badrow")
}

var _ ingest.Quarantine = (*Quarantine)(nil)

// badRowTime orders the bad-row index by creation time.
const badRowTime = "2006-01-02T15:04:05.000000000Z"

func badRowItem(row ingest.BadRow) (map[string]ddb.AttributeValue, error) {
	b, err := json.Marshal(row)
	if err != nil {
		return nil, fmt.Errorf("encode bad row: %w", err)
	}
	item := badRowKey(row.ID)
	item["row"] = dynamo.AttrS(string(b))
	item["channel"] = dynamo.AttrS(row.Channel)
	item["replays"] = dynamo.AttrN(int64(row.Replays))
	item[topology.GSI1PK] = dynamo.AttrS("badrows#" + row.State)
	item[topology.GSI1SK] = dynamo.AttrS(row.CreatedAt.UTC().Format(badRowTime) + "#" + row.ID)
	return item, nil
}

// Put creates or replaces a row.
func (q *Quarantine) Put(ctx context.Context, row ingest.BadRow) error {
	item, err := badRowItem(row)
	if err != nil {
		return err
	}
	if _, err := q.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(q.table), Item: item}); err != nil {
		return fmt.Errorf("put bad row %s: %w", row.ID, err)
	}
	return nil
}

// Replace writes row only while the stored row's replay count is replays
// (rows written before the count was an attribute count as zero).
func (q *Quarantine) Replace(ctx context.Context, row ingest.BadRow, replays int) (bool, error) {
	item, err := badRowItem(row)
	if err != nil {
		return false, err
	}
	cond := "#r = :r"
	if replays == 0 {
		cond = "attribute_exists(pk) AND (attribute_not_exists(#r) OR #r = :r)"
	}
	_, err = q.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(q.table), Item: item,
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#r": "replays"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":r": dynamo.AttrN(int64(replays))},
	})
	switch {
	case dynamo.ConditionFailed(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("replace bad row %s: %w", row.ID, err)
	}
	return true, nil
}

// Get returns a row.
func (q *Quarantine) Get(ctx context.Context, id string) (ingest.BadRow, bool, error) {
	out, err := q.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(q.table), Key: badRowKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return ingest.BadRow{}, false, fmt.Errorf("get bad row %s: %w", id, err)
	}
	if out.Item == nil {
		return ingest.BadRow{}, false, nil
	}
	var row ingest.BadRow
	if err := json.Unmarshal([]byte(dynamo.GetS(out.Item, "row")), &row); err != nil {
		return ingest.BadRow{}, false, fmt.Errorf("decode bad row %s: %w", id, err)
	}
	return row, true, nil
}

// List returns rows in one state (default quarantined), newest first.
func (q *Quarantine) List(ctx context.Context, f ingest.Filter, cursor string, limit int) ([]ingest.BadRow, string, error) {
	state := f.State
	if state == "" {
		state = ingest.StateQuarantined
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(q.table),
		IndexName:                 aws.String(topology.GSI1Index),
		KeyConditionExpression:    aws.String("#g = :g"),
		ExpressionAttributeNames:  map[string]string{"#g": topology.GSI1PK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":g": dynamo.AttrS("badrows#" + state)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	}
	// The index's sort key starts with the creation time, so a time range
	// is a key condition, not a filter: [Since, Until).
	if !f.Since.IsZero() || !f.Until.IsZero() {
		lo, hi := "0", "9"
		if !f.Since.IsZero() {
			lo = f.Since.UTC().Format(badRowTime)
		}
		if !f.Until.IsZero() {
			hi = f.Until.UTC().Format(badRowTime)
		}
		in.KeyConditionExpression = aws.String("#g = :g AND #t BETWEEN :lo AND :hi")
		in.ExpressionAttributeNames["#t"] = topology.GSI1SK
		in.ExpressionAttributeValues[":lo"] = dynamo.AttrS(lo)
		in.ExpressionAttributeValues[":hi"] = dynamo.AttrS(hi)
	}
	if f.Channel != "" {
		in.FilterExpression = aws.String("#c = :c")
		in.ExpressionAttributeNames["#c"] = "channel"
		in.ExpressionAttributeValues[":c"] = dynamo.AttrS(f.Channel)
	}
	ours := func(k map[string]ddb.AttributeValue) error { return badRowCursor(k, "badrows#"+state) }
	items, next, err := dynamo.Page(ctx, q.client, in, cursor, ours)
	if errors.Is(err, dynamo.ErrBadCursor) {
		return nil, "", fmt.Errorf("%w: %w", ingest.ErrBadCursor, err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("list bad rows: %w", err)
	}
	rows := make([]ingest.BadRow, 0, len(items))
	for _, it := range items {
		var row ingest.BadRow
		if err := json.Unmarshal([]byte(dynamo.GetS(it, "row")), &row); err != nil {
			return nil, "", fmt.Errorf("decode bad row: %w", err)
		}
		rows = append(rows, row)
	}
	return rows, next, nil
}

// After returns the cursor resuming a listing of state just after row.
func (q *Quarantine) After(row ingest.BadRow, state string) string {
	k := badRowKey(row.ID)
	k[topology.GSI1PK] = dynamo.AttrS("badrows#" + state)
	k[topology.GSI1SK] = dynamo.AttrS(row.CreatedAt.UTC().Format(badRowTime) + "#" + row.ID)
	return dynamo.EncodeCursor(k)
}

// badRowCursor checks a decoded cursor is a key of the bad-row index in
// the state listed, so a forged one is refused rather than sent to
// DynamoDB.
func badRowCursor(k map[string]ddb.AttributeValue, gsiPK string) error {
	want := []string{topology.PK, topology.SK, topology.GSI1PK, topology.GSI1SK}
	if len(k) != len(want) {
		return fmt.Errorf("%w: wrong attributes", dynamo.ErrBadCursor)
	}
	for _, a := range want {
		if dynamo.GetS(k, a) == "" {
			return fmt.Errorf("%w: no %s", dynamo.ErrBadCursor, a)
		}
	}
	if dynamo.GetS(k, topology.GSI1PK) != gsiPK || !strings.HasPrefix(dynamo.GetS(k, topology.PK), "badrow#") {
		return fmt.Errorf("%w: not a bad-row key of this listing", dynamo.ErrBadCursor)
	}
	return nil
}
