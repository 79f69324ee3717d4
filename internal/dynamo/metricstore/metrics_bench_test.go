package metricstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/rollup"
	"github.com/ocxhq/ocx/internal/topology"
)

// traffic is a mix of interactions of customers cust0..cust<customers-1>
// between from and from+span.
func traffic(rng *rand.Rand, n, customers int, from time.Time, span time.Duration, idPrefix string) []events.Interaction {
	kinds := []struct{ typ, channel string }{
		{"ticket.created", "zendesk"}, {"conversation.opened", "intercom"}, {"message.received", "twilio"},
		{"order.created", "shopify"}, {"email.delivered", "sendgrid"}, {"payment.succeeded", "stripe"},
		{events.TypeSurveyResponded, "typeform"},
	}
	out := make([]events.Interaction, n)
	for i := range out {
		k := kinds[rng.IntN(len(kinds))]
		attrs := map[string]any{"plan": []string{"free", "pro", "enterprise"}[rng.IntN(3)]}
		if k.typ == events.TypeSurveyResponded {
			attrs["survey"], attrs["score"] = "nps", float64(rng.IntN(11))
		}
		out[i] = events.Interaction{
			ID: fmt.Sprintf("%s%d", idPrefix, i), Type: k.typ, Channel: k.channel,
			OccurredAt: from.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Second),
			Customer:   events.Customer{Email: fmt.Sprintf("cust%d@example.com", rng.IntN(customers))}, Attributes: attrs,
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OccurredAt.Before(out[j].OccurredAt) })
	return out
}

// deltaRecorder is a memory store that keeps what each event's commit added.
type deltaRecorder struct {
	*rollup.MemoryStore
	deltas []metric.Delta
}

func (r *deltaRecorder) Commit(ctx context.Context, tx rollup.Tx) error {
	if err := r.MemoryStore.Commit(ctx, tx); err != nil {
		return err
	}
	r.deltas = append(r.deltas, metric.Merge(tx.Deltas)...)
	return nil
}

// seed stores the state `stored` interactions leave behind in the metrics
// table — counters (rolled up, so clean) and every cube — and each
// customer's contact record, computed in memory and written in batches,
// which is far quicker than counting them one by one through moto. The
// interactions themselves are not stored: nothing the rollup does reads
// them.
func seed(b *testing.B, e *metricsEnv, evs []events.Interaction, attrs []string) *deltaRecorder {
	ctx := context.Background()
	mem := &deltaRecorder{MemoryStore: rollup.NewMemoryStore()}
	for _, ev := range evs {
		cid := identity.CustomerIDFor(identity.Keys(ev.Channel, ev.Customer)[0])
		mem.Owners[identity.Keys(ev.Channel, ev.Customer)[0]] = cid
	}
	tally := &rollup.Tally{Store: mem, Attributes: attrs, Now: time.Now, Log: e.svc.Log}
	for _, ev := range evs {
		body, _ := json.Marshal(ev)
		if err := tally.Count(ctx, events.Envelope{ID: ev.ID, Source: events.SourceIngest, DetailType: ev.Type, Detail: body}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := (&rollup.Service{Store: mem.MemoryStore, Log: e.svc.Log}).Run(ctx); err != nil {
		b.Fatal(err)
	}
	from, to := evs[0].OccurredAt.AddDate(0, -1, 0), evs[len(evs)-1].OccurredAt.AddDate(0, 1, 0)
	var items []map[string]ddb.AttributeValue
	metricsTable, customersTable := e.names[topology.TableMetrics], e.names[topology.TableCustomers]
	for _, fam := range metric.Families() {
		cs, _ := mem.Counters(ctx, fam, from, to)
		for _, c := range cs {
			it := CounterKey(c.Family, c.Start, c.Dims)
			it["family"], it["start"], it["dims"], it["version"] = dynamo.AttrS(c.Family), dynamo.AttrS(c.Start.Format(time.RFC3339)), dynamo.AttrS(c.Dims), dynamo.AttrN(c.Version)
			for f, v := range c.Fields {
				it[fieldPrefix+f] = dynamo.AttrN(v)
			}
			items = append(items, it)
		}
		for _, g := range []string{rollup.Slot, rollup.Hour, rollup.Day, rollup.Week, rollup.Month} {
			cubes, _ := mem.Cubes(ctx, fam, g, from, to)
			for _, c := range cubes {
				it, err := cubeItem(c)
				if err != nil {
					b.Fatal(err)
				}
				items = append(items, it)
			}
		}
	}
	b.Logf("seed: %d metric items", len(items))
	batchWrite(b, e.client, metricsTable, items)
	b.Logf("seed: metric items written")

	items = items[:0]
	seen := map[string]bool{}
	for _, ev := range evs {
		cid := identity.CustomerIDFor(identity.Keys(ev.Channel, ev.Customer)[0])
		if seen[cid] {
			continue
		}
		seen[cid] = true
		h, v, _ := mem.Contacts(ctx, cid)
		if v == 0 {
			continue
		}
		state, _ := json.Marshal(h)
		rec := tallyContacts(cid)
		rec["state"], rec["version"], rec["expires_at"] = dynamo.AttrS(string(state)), dynamo.AttrN(v), dynamo.AttrEpoch(h.Until())
		items = append(items, rec)
	}
	batchWrite(b, e.client, customersTable, items)
	return mem
}

func batchWrite(b *testing.B, c *dynamodb.Client, table string, items []map[string]ddb.AttributeValue) {
	ctx := context.Background()
	for start := 0; start < len(items); start += 25 {
		var reqs []ddb.WriteRequest
		for _, it := range items[start:min(start+25, len(items))] {
			reqs = append(reqs, ddb.WriteRequest{PutRequest: &ddb.PutRequest{Item: it}})
		}
		for len(reqs) > 0 {
			out, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddb.WriteRequest{table: reqs}})
			if err != nil {
				b.Fatal(err)
			}
			reqs = out.UnprocessedItems[table]
		}
	}
}

// BenchmarkRollupAgainstHistory rolls up the same 1,000 new interactions
// over a history of 10,000 and of 100,000 stored ones (30 days; 1,000 and
// 10,000 customers, the new interactions all from customers with history).
// A run reads what changed, not what is stored: its time and DynamoDB
// requests should not grow with the history.
//
// The new interactions' counters are written as the tally writes them,
// one update per counter and event, but outside transactions: moto's
// TransactWriteItems deep-copies every table a transaction names, once per
// item, so through moto a transaction's time grows with the data stored —
// an emulator artefact DynamoDB does not have. What counting costs per
// event is measured by BenchmarkTallyPerEvent.
//
//	go test ./internal/dynamo -run '^$' -bench 'RollupAgainstHistory|TallyPerEvent' -benchtime 1x
func BenchmarkRollupAgainstHistory(b *testing.B) {
	attrs := []string{"plan"}
	for _, stored := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("stored=%d", stored), func(b *testing.B) {
			e := newMetricsEnv(b)
			e.tally.Attributes = attrs
			now := time.Now().UTC().Truncate(time.Hour)
			rng := rand.New(rand.NewPCG(uint64(stored), 3))
			mem := seed(b, e, traffic(rng, stored, stored/10, now.Add(-30*24*time.Hour), 30*24*time.Hour-time.Hour, "h"), attrs)
			ctx := context.Background()
			tally := &rollup.Tally{Store: mem, Attributes: attrs, Now: time.Now, Log: e.svc.Log}
			b.ResetTimer()
			var runReqs int
			var runTime time.Duration
			var runOps map[string]int
			var res rollup.Result
			for i := range b.N {
				b.StopTimer()
				mem.deltas = nil
				for _, ev := range traffic(rand.New(rand.NewPCG(99, uint64(i))), 1000, 1000, now.Add(-time.Hour), time.Hour, fmt.Sprintf("n%d-", i)) {
					body, _ := json.Marshal(ev)
					if err := tally.Count(ctx, events.Envelope{ID: ev.ID, Source: events.SourceIngest, DetailType: ev.Type, Detail: body}); err != nil {
						b.Fatal(err)
					}
				}
				for _, d := range mem.deltas {
					u := deltaUpdate(e.names[topology.TableMetrics], d, now).Update
					if _, err := e.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
						ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues}); err != nil {
						b.Fatal(err)
					}
				}
				e.ops.take()
				b.StartTimer()
				t0 := time.Now()
				var err error
				if res, err = e.svc.Run(ctx); err != nil {
					b.Fatal(err)
				}
				runTime += time.Since(t0)
				var n int
				n, runOps = e.ops.take()
				runReqs += n
			}
			b.ReportMetric(float64(runReqs)/float64(b.N), "requests/op")
			b.ReportMetric(float64(res.Counters), "counters/op")
			b.ReportMetric(float64(res.Points), "cubes/op")
			var parts []string
			for op, k := range runOps {
				parts = append(parts, fmt.Sprintf("%s=%d", op, k))
			}
			sort.Strings(parts)
			b.Logf("history %d: rollup of 1,000 new interactions took %s, %d requests (%s)", stored, (runTime / time.Duration(b.N)).Round(time.Millisecond), runReqs/b.N, strings.Join(parts, " "))
		})
	}
}

// BenchmarkTallyPerEvent counts interactions through the real tally
// (transactions included) on a small history: DynamoDB requests per
// event. Every read is by key, so the figure does not depend on history.
func BenchmarkTallyPerEvent(b *testing.B) {
	e := newMetricsEnv(b)
	e.tally.Attributes = []string{"plan"}
	now := time.Now().UTC()
	evs := traffic(rand.New(rand.NewPCG(5, 5)), b.N, 50, now.Add(-time.Hour), time.Hour, "p")
	ctx := context.Background()
	e.ops.take()
	b.ResetTimer()
	for _, ev := range evs {
		body, _ := json.Marshal(ev)
		if err := e.tally.Count(ctx, events.Envelope{ID: ev.ID, Source: events.SourceIngest, DetailType: ev.Type, Detail: body}); err != nil {
			b.Fatal(err)
		}
	}
	n, ops := e.ops.take()
	b.ReportMetric(float64(n)/float64(b.N), "requests/event")
	b.Logf("%d events: %v", b.N, ops)
}
