// Package backfillstore reads stored interactions and failures for a
// backfill of the metrics (rollup.Source).
package backfillstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/dynamo/failurestore"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/rollup"
	"github.com/ocxhq/ocx/internal/topology"
)

// BackfillSource reads what a metrics backfill rebuilds from: the
// interactions the journey function stored in the customers table and the
// failure records. It implements rollup.BackfillSource.
type BackfillSource struct {
	client    *dynamodb.Client
	customers string
	failures  failure.Store
}

var _ rollup.BackfillSource = (*BackfillSource)(nil)

// NewBackfillSource returns the source.
func NewBackfillSource(client *dynamodb.Client, customersTable, failuresTable string) *BackfillSource {
	return &BackfillSource{client: client, customers: customersTable, failures: failurestore.NewFailures(client, failuresTable)}
}

// Stored scans the whole customers table — a backfill rereads history on
// purpose — and passes on interactions and merged customers. The total
// for progress is the table's item count, which DynamoDB refreshes about
// every six hours: an estimate.
func (b *BackfillSource) Stored(ctx context.Context, fn func(rollup.Stored) error, progress func(done, total int64)) error {
	desc, err := b.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(b.customers)})
	if err != nil {
		return fmt.Errorf("describe %s: %w", b.customers, err)
	}
	total := aws.ToInt64(desc.Table.ItemCount)
	var done int64
	p := dynamodb.NewScanPaginator(b.client, &dynamodb.ScanInput{
		TableName:                aws.String(b.customers),
		FilterExpression:         aws.String("begins_with(#sk, :i) OR (#sk = :p AND attribute_exists(#m))"),
		ProjectionExpression:     aws.String("#pk, #sk, #ev, #m"),
		ExpressionAttributeNames: map[string]string{"#pk": topology.PK, "#sk": topology.SK, "#ev": "event", "#m": "merged_into"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":i": dynamo.AttrS("interaction#"), ":p": dynamo.AttrS("profile"),
		},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("scan %s: %w", b.customers, err)
		}
		done += int64(page.ScannedCount)
		for _, it := range page.Items {
			cid := strings.TrimPrefix(dynamo.GetS(it, topology.PK), "customer#")
			if m := dynamo.GetS(it, "merged_into"); m != "" {
				if err := fn(rollup.Stored{CustomerID: cid, MergedInto: m}); err != nil {
					return err
				}
				continue
			}
			var ev events.Interaction
			if err := dynamo.UnmarshalDoc(it, "event", &ev); err != nil {
				return fmt.Errorf("decode interaction %s of %s: %w", dynamo.GetS(it, topology.SK), cid, err)
			}
			if err := fn(rollup.Stored{CustomerID: cid, Interaction: &ev}); err != nil {
				return err
			}
		}
		progress(done, max(total, done))
	}
	return nil
}

// Failures lists failures newest first until they are older than from.
func (b *BackfillSource) Failures(ctx context.Context, from, to time.Time, fn func(events.Failure) error) error {
	cursor := ""
	for {
		page, next, err := b.failures.List(ctx, failure.Filter{}, cursor, 100)
		if err != nil {
			return err
		}
		for _, f := range page {
			if f.DetectedAt.Before(from) {
				return nil
			}
			if f.DetectedAt.Before(to) {
				if err := fn(f); err != nil {
					return err
				}
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}
