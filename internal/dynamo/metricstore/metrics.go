// Package metricstore holds metric counters and cubes in the metrics table
// (rollup.Store) and the rollup's counting state (rollup.TallyStore).
package metricstore

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/rollup"
	"github.com/ocxhq/ocx/internal/topology"
)

// Metrics keeps counters and cubes in the metrics table: it implements
// rollup.Store (and rollup.BackfillStore) and serves cubes to the API.
//
// A counter is the item (counter#<family>#<slot start>, d#<dims>) with one
// number attribute per field ("f.<field>"), a version and, while it has
// changes the rollup has not seen, the sparse dirty index's keys: a slot's
// counters are one partition, read with one query. A cube is the item
// (cube#<family>#<granularity>#<period>, <bucket start>) holding its cells
// as gzipped JSON; the period (a day for 15-minute and hour cubes, a year
// for day and week cubes) keeps partitions small.
type Metrics struct {
	client *dynamodb.Client
	table  string
}

var (
	_ rollup.Store         = (*Metrics)(nil)
	_ rollup.BackfillStore = (*Metrics)(nil)
)

// NewMetrics returns the store over the metrics table.
func NewMetrics(client *dynamodb.Client, table string) *Metrics {
	return &Metrics{client: client, table: table}
}

// fieldPrefix marks a counter's field attributes, so no field can clash
// with the item's own attributes.
const fieldPrefix = "f."

// counterMeta are the attributes of a counter item that are not fields.
// Counters the journey function used to write carry bare field names and
// "hour"; a store kept from then still lists them as changed, and the
// rollup reads and cleans them like any other.
var counterMeta = map[string]bool{
	topology.PK: true, topology.SK: true, topology.DirtyPK: true, topology.DirtySK: true,
	"family": true, "start": true, "hour": true, "dims": true, "version": true,
}

// CounterKey is the key of a counter item.
func CounterKey(family string, start time.Time, dims string) map[string]ddb.AttributeValue {
	return dynamo.ItemKey(counterPK(family, start), "d#"+dims)
}

func counterPK(family string, start time.Time) string {
	return "counter#" + family + "#" + start.UTC().Format(time.RFC3339)
}

func toCounter(item map[string]ddb.AttributeValue) (rollup.Counter, error) {
	at := dynamo.GetS(item, "start")
	if at == "" {
		at = dynamo.GetS(item, "hour")
	}
	start, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return rollup.Counter{}, fmt.Errorf("counter %s/%s: bad start: %w", dynamo.GetS(item, topology.PK), dynamo.GetS(item, topology.SK), err)
	}
	c := rollup.Counter{Family: dynamo.GetS(item, "family"), Start: start.UTC(), Dims: dynamo.GetS(item, "dims"), Version: dynamo.GetN(item, "version"), Fields: metric.Fields{},
		Key: dynamo.GetS(item, topology.PK) + "\x00" + dynamo.GetS(item, topology.SK)}
	for k, v := range item {
		if nv, ok := v.(*ddb.AttributeValueMemberN); ok && !counterMeta[k] {
			c.Fields[strings.TrimPrefix(k, fieldPrefix)], _ = strconv.ParseInt(nv.Value, 10, 64)
		}
	}
	return c, nil
}

func (m *Metrics) query(ctx context.Context, in *dynamodb.QueryInput) ([]map[string]ddb.AttributeValue, error) {
	var out []map[string]ddb.AttributeValue
	err := dynamo.Query(ctx, m.client, in, func(item map[string]ddb.AttributeValue) error {
		out = append(out, item)
		return nil
	})
	return out, err
}

func (m *Metrics) counters(ctx context.Context, in *dynamodb.QueryInput) ([]rollup.Counter, error) {
	items, err := m.query(ctx, in)
	if err != nil {
		return nil, err
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

// Dirty queries the sparse dirty index: only counters changed since their
// last rollup are in it, so the cost follows new data, not history.
func (m *Metrics) Dirty(ctx context.Context) ([]rollup.Counter, error) {
	out, err := m.counters(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(m.table),
		IndexName:                 aws.String(topology.DirtyGSI),
		KeyConditionExpression:    aws.String("#d = :d"),
		ExpressionAttributeNames:  map[string]string{"#d": topology.DirtyPK},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":d": dynamo.AttrS("1")},
	})
	if err != nil {
		return nil, fmt.Errorf("query dirty counters: %w", err)
	}
	return out, nil
}

// Counters returns a family's counters for slots in [from, to): one query
// per slot.
func (m *Metrics) Counters(ctx context.Context, family string, from, to time.Time) ([]rollup.Counter, error) {
	var out []rollup.Counter
	for slot := metric.Slot(from); slot.Before(to); slot = slot.Add(metric.Quantum) {
		if slot.Before(from) {
			continue
		}
		cs, err := m.counters(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(m.table),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": dynamo.AttrS(counterPK(family, slot))},
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("query %s counters of %s: %w", family, slot.Format(time.RFC3339), err)
		}
		out = append(out, cs...)
	}
	return out, nil
}

// countersIn scans for a family's counters of [from, to): a backfill's
// read of a long range, one pass over the table instead of a query per slot.
func (m *Metrics) countersIn(ctx context.Context, family string, from, to time.Time) ([]rollup.Counter, error) {
	var out []rollup.Counter
	p := dynamodb.NewScanPaginator(m.client, &dynamodb.ScanInput{
		TableName:                aws.String(m.table),
		FilterExpression:         aws.String("begins_with(pk, :p) AND #start BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{"#start": "start"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":p": dynamo.AttrS("counter#" + family + "#"), ":lo": dynamo.AttrS(from.UTC().Format(time.RFC3339)), ":hi": dynamo.AttrS(to.UTC().Format(time.RFC3339)),
		},
		ConsistentRead: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan %s counters: %w", family, err)
		}
		for _, it := range page.Items {
			c, err := toCounter(it)
			if err != nil {
				return nil, err
			}
			if c.Start.Before(to) {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// MarkClean removes the counter from the dirty index unless its version
// moved on, in which case the next run picks it up again.
func (m *Metrics) MarkClean(ctx context.Context, c rollup.Counter) error {
	k := CounterKey(c.Family, c.Start, c.Dims)
	if pk, sk, ok := strings.Cut(c.Key, "\x00"); ok {
		k = dynamo.ItemKey(pk, sk)
	}
	_, err := m.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(m.table),
		Key:                       k,
		UpdateExpression:          aws.String("REMOVE #d, #da"),
		ConditionExpression:       aws.String("#v = :v"),
		ExpressionAttributeNames:  map[string]string{"#d": topology.DirtyPK, "#da": topology.DirtySK, "#v": "version"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":v": dynamo.AttrN(c.Version)},
	})
	if err != nil && !dynamo.ConditionFailed(err) {
		return err
	}
	return nil
}

// deltaUpdate adds a delta to a counter and marks it dirty; every
// attribute goes through a placeholder (several are reserved words).
func deltaUpdate(table string, d metric.Delta, now time.Time) ddb.TransactWriteItem {
	names := map[string]string{"#dirty": topology.DirtyPK, "#dirty_at": topology.DirtySK, "#family": "family", "#start": "start", "#dims": "dims", "#version": "version"}
	values := map[string]ddb.AttributeValue{
		":one": dynamo.AttrN(1), ":d": dynamo.AttrS("1"), ":now": dynamo.AttrS(now.UTC().Format(time.RFC3339Nano)),
		":fam": dynamo.AttrS(d.Family), ":start": dynamo.AttrS(d.Start.UTC().Format(time.RFC3339)), ":dims": dynamo.AttrS(d.Dims),
	}
	fields := make([]string, 0, len(d.Fields))
	for f := range d.Fields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	add := []string{"#version :one"}
	for i, f := range fields {
		names[fmt.Sprintf("#f%d", i)] = fieldPrefix + f
		values[fmt.Sprintf(":v%d", i)] = dynamo.AttrN(d.Fields[f])
		add = append(add, fmt.Sprintf("#f%d :v%d", i, i))
	}
	return ddb.TransactWriteItem{Update: &ddb.Update{
		TableName:                 aws.String(table),
		Key:                       CounterKey(d.Family, d.Start, d.Dims),
		UpdateExpression:          aws.String("SET #dirty = :d, #dirty_at = :now, #family = :fam, #start = :start, #dims = :dims ADD " + strings.Join(add, ", ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}
}

// cubePK is the partition of a cube: a day's 15-minute and hour cubes, a
// year's day and week cubes, all month cubes.
func cubePK(family, gran string, start time.Time) string {
	pk := "cube#" + family + "#" + gran
	switch gran {
	case rollup.Slot, rollup.Hour:
		return pk + "#" + start.UTC().Format(time.DateOnly)
	case rollup.Day, rollup.Week:
		return pk + "#" + start.UTC().Format("2006")
	}
	return pk
}

// cubePartitions are the partitions holding gran cubes starting in [from, to).
func cubePartitions(family, gran string, from, to time.Time) []string {
	var out []string
	from, to = from.UTC(), to.UTC()
	switch gran {
	case rollup.Slot, rollup.Hour:
		for d := from.Truncate(24 * time.Hour); d.Before(to); d = d.AddDate(0, 0, 1) {
			out = append(out, cubePK(family, gran, d))
		}
	case rollup.Day, rollup.Week:
		for y := from.Year(); y <= to.Year(); y++ {
			out = append(out, cubePK(family, gran, time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)))
		}
	default:
		out = append(out, cubePK(family, gran, from))
	}
	return out
}

// maxCube is the largest compressed cube stored, below DynamoDB's 400 KB
// item limit with room for the other attributes.
const maxCube = 380 << 10

// cubeItem encodes a cube: its cells as gzipped JSON.
func cubeItem(c rollup.Cube) (map[string]ddb.AttributeValue, error) {
	raw, err := json.Marshal(c.Cells)
	if err != nil {
		return nil, fmt.Errorf("encode cube: %w", err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return nil, fmt.Errorf("compress cube: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress cube: %w", err)
	}
	if buf.Len() > maxCube {
		return nil, fmt.Errorf("cube %s %s %s holds %d dimension combinations, %d KB compressed, over the %d KB an item can hold; configure fewer customer attributes",
			c.Family, c.Gran, c.Start.Format(time.RFC3339), len(c.Cells), buf.Len()>>10, maxCube>>10)
	}
	item := dynamo.ItemKey(cubePK(c.Family, c.Gran, c.Start), c.Start.UTC().Format(time.RFC3339))
	item["cells"] = &ddb.AttributeValueMemberB{Value: buf.Bytes()}
	item["src"] = dynamo.AttrN(c.Source)
	item["combinations"] = dynamo.AttrN(int64(len(c.Cells)))
	return item, nil
}

// PutCube stores a cube unless the stored one was computed from later
// counter versions (a larger source).
func (m *Metrics) PutCube(ctx context.Context, c rollup.Cube) error {
	item, err := cubeItem(c)
	if err != nil {
		return err
	}
	_, err = m.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(m.table), Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(src) OR src <= :src"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":src": dynamo.AttrN(c.Source)},
	})
	if err != nil && !dynamo.ConditionFailed(err) {
		return err
	}
	return nil
}

// Cubes returns a family's gran cubes starting in [from, to).
func (m *Metrics) Cubes(ctx context.Context, family, gran string, from, to time.Time) ([]rollup.Cube, error) {
	var out []rollup.Cube
	for _, pk := range cubePartitions(family, gran, from, to) {
		items, err := m.query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(m.table),
			KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
			ExpressionAttributeValues: map[string]ddb.AttributeValue{
				":pk": dynamo.AttrS(pk), ":lo": dynamo.AttrS(from.UTC().Format(time.RFC3339)), ":hi": dynamo.AttrS(to.UTC().Format(time.RFC3339)),
			},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("query %s %s cubes: %w", family, gran, err)
		}
		for _, it := range items {
			start, err := time.Parse(time.RFC3339, dynamo.GetS(it, topology.SK))
			if err != nil || !start.Before(to) {
				continue
			}
			c, err := decodeCube(family, gran, start.UTC(), it)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func decodeCube(family, gran string, start time.Time, it map[string]ddb.AttributeValue) (rollup.Cube, error) {
	c := rollup.Cube{Family: family, Gran: gran, Start: start, Source: dynamo.GetN(it, "src"), Cells: metric.Cells{}}
	b, ok := it["cells"].(*ddb.AttributeValueMemberB)
	if !ok {
		return c, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b.Value))
	if err != nil {
		return c, fmt.Errorf("cube %s %s %s: %w", family, gran, start.Format(time.RFC3339), err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return c, fmt.Errorf("cube %s %s %s: %w", family, gran, start.Format(time.RFC3339), err)
	}
	if err := json.Unmarshal(raw, &c.Cells); err != nil {
		return c, fmt.Errorf("cube %s %s %s: %w", family, gran, start.Format(time.RFC3339), err)
	}
	return c, nil
}

// ReplaceCounters makes a family's counters for slots in [from, to)
// exactly slots. It writes only counters whose fields change, each with
// its version raised and marked dirty, and only if no event changed it
// since it was read (those are reported as raced and left as they are).
func (m *Metrics) ReplaceCounters(ctx context.Context, family string, from, to time.Time, slots map[time.Time]metric.Cells) (rollup.Replaced, error) {
	var r rollup.Replaced
	have, err := m.countersIn(ctx, family, from, to)
	if err != nil {
		return r, err
	}
	type ck struct {
		start int64
		dims  string
	}
	old := map[ck]rollup.Counter{}
	for _, c := range have {
		old[ck{c.Start.Unix(), c.Dims}] = c
	}
	want := map[ck]metric.Fields{}
	for start, cells := range slots {
		for dims, f := range cells {
			want[ck{start.Unix(), dims}] = f
		}
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	put := func(k ck, f metric.Fields, prev *rollup.Counter) error {
		start := time.Unix(k.start, 0).UTC()
		item := CounterKey(family, start, k.dims)
		item["family"], item["start"], item["dims"] = dynamo.AttrS(family), dynamo.AttrS(start.Format(time.RFC3339)), dynamo.AttrS(k.dims)
		item[topology.DirtyPK], item[topology.DirtySK] = dynamo.AttrS("1"), dynamo.AttrS(now)
		for name, v := range f {
			if v != 0 {
				item[fieldPrefix+name] = dynamo.AttrN(v)
			}
		}
		in := &dynamodb.PutItemInput{TableName: aws.String(m.table), Item: item}
		if prev == nil {
			item["version"] = dynamo.AttrN(1)
			in.ConditionExpression = aws.String("attribute_not_exists(pk)")
		} else {
			item["version"] = dynamo.AttrN(prev.Version + 1)
			in.ConditionExpression = aws.String("version = :v")
			in.ExpressionAttributeValues = map[string]ddb.AttributeValue{":v": dynamo.AttrN(prev.Version)}
		}
		_, err := m.client.PutItem(ctx, in)
		if dynamo.ConditionFailed(err) {
			r.Raced++
			return nil
		}
		return err
	}
	for k, c := range old {
		if _, ok := want[k]; !ok && !c.Fields.Zero() {
			if err := put(k, metric.Fields{}, &c); err != nil {
				return r, fmt.Errorf("zero %s counter %s: %w", family, k.dims, err)
			}
			r.Zeroed++
		}
	}
	for k, f := range want {
		c, ok := old[k]
		if ok && sameFields(c.Fields, f) {
			r.Unchanged++
			continue
		}
		var prev *rollup.Counter
		if ok {
			prev = &c
		}
		if err := put(k, f, prev); err != nil {
			return r, fmt.Errorf("write %s counter %s: %w", family, k.dims, err)
		}
		r.Written++
	}
	return r, nil
}

func sameFields(a, b metric.Fields) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
