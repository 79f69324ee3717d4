package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/rollup"
	"github.com/ocxhq/ocx/internal/topology"
)

// Metrics implements rollup.Store and serves series to the API.
type Metrics struct {
	client *dynamodb.Client
	table  string
}

// NewMetrics returns the store over the metrics table.
func NewMetrics(client *dynamodb.Client, table string) *Metrics {
	return &Metrics{client: client, table: table}
}

// counterMeta are the attributes of a counter item that are not fields.
var counterMeta = map[string]bool{
	topology.PK: true, topology.SK: true, topology.DirtyPK: true, topology.DirtySK: true,
	"family": true, "hour": true, "dims": true, "version": true,
}

func toCounter(item map[string]ddb.AttributeValue) (rollup.Counter, error) {
	hour, err := time.Parse(time.RFC3339, str(item, "hour"))
	if err != nil {
		return rollup.Counter{}, fmt.Errorf("counter %s/%s: bad hour: %w", str(item, topology.PK), str(item, topology.SK), err)
	}
	c := rollup.Counter{Family: str(item, "family"), Hour: hour, Dims: str(item, "dims"), Version: num(item, "version"), Fields: map[string]int64{}}
	for k, v := range item {
		if nv, ok := v.(*ddb.AttributeValueMemberN); ok && !counterMeta[k] {
			c.Fields[k], _ = strconv.ParseInt(nv.Value, 10, 64)
		}
	}
	return c, nil
}

func (m *Metrics) query(ctx context.Context, in *dynamodb.QueryInput) ([]map[string]ddb.AttributeValue, error) {
	var out []map[string]ddb.AttributeValue
	p := dynamodb.NewQueryPaginator(m.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
	}
	return out, nil
}

// Dirty queries the sparse dirty index: only counters changed since their
// last rollup are in it, so the cost follows new data, not history.
func (m *Metrics) Dirty(ctx context.Context) ([]rollup.Counter, error) {
	items, err := m.query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(m.table),
		IndexName:                 aws.String(topology.DirtyGSI),
		KeyConditionExpression:    aws.String("#d = :d"),
		ExpressionAttributeNames:  map[string]string{"#d": topology.DirtyPK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":d": s("1")},
	})
	if err != nil {
		return nil, fmt.Errorf("query dirty counters: %w", err)
	}
	out := make([]rollup.Counter, 0, len(items))
	for _, it := range items {
		c, err := toCounter(it)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Counters returns a family's counters for hours in [from, to).
func (m *Metrics) Counters(ctx context.Context, family string, from, to time.Time) ([]rollup.Counter, error) {
	pk, lo := CounterKey(family, from, "")
	_, hi := CounterKey(family, to, "")
	items, err := m.query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(m.table),
		KeyConditionExpression:    aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": s(pk), ":lo": s(lo), ":hi": s(hi)},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("query %s counters: %w", family, err)
	}
	out := make([]rollup.Counter, 0, len(items))
	for _, it := range items {
		c, err := toCounter(it)
		if err != nil {
			return nil, err
		}
		// BETWEEN is inclusive; the hour starting at `to` is not ours.
		if !c.Hour.Before(to) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// MarkClean removes the counter from the dirty index unless its version
// moved on, in which case the next run picks it up again.
func (m *Metrics) MarkClean(ctx context.Context, c rollup.Counter) error {
	pk, sk := CounterKey(c.Family, c.Hour, c.Dims)
	_, err := m.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(m.table),
		Key:                       key(pk, sk),
		UpdateExpression:          aws.String("REMOVE #d, #da"),
		ConditionExpression:       aws.String("#v = :v"),
		ExpressionAttributeNames:  map[string]string{"#d": topology.DirtyPK, "#da": topology.DirtySK, "#v": "version"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":v": n(c.Version)},
	})
	if err != nil && !conditionFailed(err) {
		return err
	}
	return nil
}

func seriesPK(metric, gran string) string { return "series#" + metric + "#" + gran }

// PutPoint writes (or overwrites) a point of a series.
func (m *Metrics) PutPoint(ctx context.Context, p rollup.Point) error {
	item := key(seriesPK(p.Metric, p.Granularity), p.Start.UTC().Format(time.RFC3339))
	item["value"] = &ddb.AttributeValueMemberN{Value: strconv.FormatFloat(p.Value, 'f', -1, 64)}
	item["n"] = n(p.N)
	for k, v := range p.Parts {
		item["part_"+k] = n(v)
	}
	_, err := m.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(m.table), Item: item})
	return err
}

// Series returns points with start in [from, to).
func (m *Metrics) Series(ctx context.Context, metric, gran string, from, to time.Time) ([]rollup.Point, error) {
	items, err := m.query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(m.table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":pk": s(seriesPK(metric, gran)), ":lo": s(from.UTC().Format(time.RFC3339)), ":hi": s(to.UTC().Format(time.RFC3339)),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("query %s %s series: %w", metric, gran, err)
	}
	out := make([]rollup.Point, 0, len(items))
	for _, it := range items {
		start, err := time.Parse(time.RFC3339, str(it, topology.SK))
		if err != nil || !start.Before(to) {
			continue
		}
		p := rollup.Point{Metric: metric, Granularity: gran, Start: start, N: num(it, "n")}
		if v, ok := it["value"].(*ddb.AttributeValueMemberN); ok {
			p.Value, _ = strconv.ParseFloat(v.Value, 64)
		}
		for k := range it {
			if part, ok := strings.CutPrefix(k, "part_"); ok {
				if p.Parts == nil {
					p.Parts = map[string]int64{}
				}
				p.Parts[part] = num(it, k)
			}
		}
		out = append(out, p)
	}
	return out, nil
}
