package dynamo

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

// seed stores the state `stored` interactions leave behind — counters
// (rolled up, so clean), every cube, each customer's contact record and
// the interactions themselves — computed in memory and written in
// batches, which is quicker than counting them one by one through moto.
func seed(b *testing.B, e *metricsEnv, evs []events.Interaction, attrs []string) {
	ctx := context.Background()
	mem := rollup.NewMemoryStore()
	for _, ev := range evs {
		cid := CustomerIDFor(identity.Keys(ev.Channel, ev.Customer)[0])
		mem.Owners[identity.Keys(ev.Channel, ev.Customer)[0]] = cid
	}
	tally := &rollup.Tally{Store: mem, Attributes: attrs, Now: time.Now, Log: e.svc.Log}
	for _, ev := range evs {
		body, _ := json.Marshal(ev)
		if err := tally.Count(ctx, rollup.Envelope{ID: ev.ID, Source: events.SourceIngest, DetailType: ev.Type, Detail: body}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := (&rollup.Service{Store: mem, Log: e.svc.Log}).Run(ctx); err != nil {
		b.Fatal(err)
	}
	from, to := evs[0].OccurredAt.AddDate(0, -1, 0), evs[len(evs)-1].OccurredAt.AddDate(0, 1, 0)
	var items []map[string]ddb.AttributeValue
	metricsTable, customersTable := e.names[topology.TableMetrics], e.names[topology.TableCustomers]
	for _, fam := range metric.Families() {
		cs, _ := mem.Counters(ctx, fam, from, to)
		for _, c := range cs {
			it := counterKey(c.Family, c.Start, c.Dims)
			it["family"], it["start"], it["dims"], it["version"] = s(c.Family), s(c.Start.Format(time.RFC3339)), s(c.Dims), n(c.Version)
			for f, v := range c.Fields {
				it[fieldPrefix+f] = n(v)
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
		cid := CustomerIDFor(identity.Keys(ev.Channel, ev.Customer)[0])
		body, _ := json.Marshal(ev)
		it := key("customer#"+cid, "interaction#"+ev.OccurredAt.Format(time.RFC3339Nano)+"#"+ev.ID)
		it["event"] = s(string(body))
		items = append(items, it)
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
		rec["state"], rec["version"], rec["expires_at"] = s(string(state)), n(v), epoch(h.Until())
		items = append(items, rec)
	}
	batchWrite(b, e.client, customersTable, items)
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

// BenchmarkRollupAgainstHistory counts the same 1,000 new interactions
// and rolls them up over a history of 10,000 and of 100,000 stored ones
// (30 days, 1,000 and 10,000 customers). The work follows what is new:
// run time and DynamoDB requests should not grow with the history.
//
//	go test ./internal/dynamo -run '^$' -bench RollupAgainstHistory -benchtime 1x
func BenchmarkRollupAgainstHistory(b *testing.B) {
	attrs := []string{"plan"}
	for _, stored := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("stored=%d", stored), func(b *testing.B) {
			e := newMetricsEnv(b)
			e.tally.Attributes = attrs
			now := time.Now().UTC().Truncate(time.Hour)
			e.now = now
			rng := rand.New(rand.NewPCG(uint64(stored), 3))
			seed(b, e, traffic(rng, stored, stored/10, now.Add(-30*24*time.Hour), 30*24*time.Hour-time.Hour, "h"), attrs)
			ctx := context.Background()
			e.ops.take()
			b.ResetTimer()
			var countReqs, runReqs int
			var countTime, runTime time.Duration
			var runOps map[string]int
			for i := range b.N {
				// The same new traffic for both histories: customers all
				// have history in both.
				fresh := traffic(rand.New(rand.NewPCG(99, 4)), 1000, 1000, now.Add(-time.Hour), time.Hour, fmt.Sprintf("n%d-", i))
				t0 := time.Now()
				for _, ev := range fresh {
					body, _ := json.Marshal(ev)
					if err := e.tally.Count(ctx, rollup.Envelope{ID: ev.ID, Source: events.SourceIngest, DetailType: ev.Type, Detail: body}); err != nil {
						b.Fatal(err)
					}
				}
				countTime += time.Since(t0)
				n, _ := e.ops.take()
				countReqs += n
				t0 = time.Now()
				if _, err := e.svc.Run(ctx); err != nil {
					b.Fatal(err)
				}
				runTime += time.Since(t0)
				n, runOps = e.ops.take()
				runReqs += n
			}
			b.ReportMetric(float64(countReqs)/float64(b.N), "count-requests/op")
			b.ReportMetric(countTime.Seconds()/float64(b.N), "count-s/op")
			b.ReportMetric(float64(runReqs)/float64(b.N), "rollup-requests/op")
			b.ReportMetric(runTime.Seconds()/float64(b.N), "rollup-s/op")
			var parts []string
			for op, k := range runOps {
				parts = append(parts, fmt.Sprintf("%s=%d", op, k))
			}
			sort.Strings(parts)
			b.Logf("stored %d: rollup requests %s", stored, strings.Join(parts, " "))
		})
	}
}
