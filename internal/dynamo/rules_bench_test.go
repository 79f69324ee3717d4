package dynamo_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/topology"
)

var ruleBenchEvents = flag.Int("rule-events", 10000, "events per BenchmarkShippedRules batch")

// ruleBenchSegment is how many events share one set of tables.
const ruleBenchSegment = 1000

// ruleCalls counts DynamoDB API calls by operation at the HTTP layer, as
// they are billed and throttled.
type ruleCalls struct {
	next aws.HTTPClient
	mu   sync.Mutex
	ops  map[string]int
}

func (c *ruleCalls) Do(r *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	c.mu.Lock()
	c.ops[op]++
	c.mu.Unlock()
	return c.next.Do(r)
}

// take returns the calls counted since the last take, in all and by
// operation.
func (c *ruleCalls) take() (int, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.ops {
		n += k
	}
	ops := c.ops
	c.ops = map[string]int{}
	return n, ops
}

// mixedEvents is a day of traffic for a shop with 2,000 active customers:
// mostly email and SMS delivery, then surveys, support contacts, payments
// and orders, in the proportions of the weights below.
func mixedEvents(tb testing.TB, n int, start time.Time) []events.Envelope {
	rng := rand.New(rand.NewPCG(1, 2))
	type kind struct {
		weight  int
		typ     string
		channel string
		attrs   func(i int) map[string]any
	}
	kinds := []kind{
		{300, "email.sent", "sendgrid", nil},
		{200, "email.delivered", "sendgrid", nil},
		{100, "email.opened", "sendgrid", nil},
		{15, "email.bounced", "sendgrid", func(int) map[string]any { return map[string]any{"type": "bounce"} }},
		{30, "message.delivered", "twilio", nil},
		{5, "message.undelivered", "twilio", func(int) map[string]any { return map[string]any{"error_code": 30005} }},
		{80, "survey.responded", "typeform", func(int) map[string]any {
			s := []string{"nps", "csat", "ces"}[rng.IntN(3)]
			top := map[string]int{"nps": 11, "csat": 5, "ces": 7}[s]
			return map[string]any{"survey": s, "score": rng.IntN(top) + map[string]int{"nps": 0, "csat": 1, "ces": 1}[s]}
		}},
		{50, "ticket.created", "zendesk", func(i int) map[string]any { return map[string]any{"ticket_id": fmt.Sprint("t", i)} }},
		{50, "ticket.replied", "zendesk", func(i int) map[string]any {
			return map[string]any{"ticket_id": fmt.Sprint("t", i-rng.IntN(50)), "author": "agent", "public": true}
		}},
		{40, "conversation.opened", "intercom", nil},
		{30, "call.completed", "twilio", func(int) map[string]any { return map[string]any{"direction": "inbound"} }},
		{40, "payment.succeeded", "stripe", nil},
		{20, "payment.failed", "stripe", nil},
		{40, "order.created", "shopify", func(i int) map[string]any {
			return map[string]any{"order_id": fmt.Sprint("o", i), "fulfil_by": start.Add(48 * time.Hour).Format(time.RFC3339)}
		}},
		{30, "order.fulfilled", "shopify", func(i int) map[string]any { return map[string]any{"order_id": fmt.Sprint("o", i-rng.IntN(40))} }},
	}
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	out := make([]events.Envelope, n)
	step := 24 * time.Hour / time.Duration(n)
	for i := range out {
		r := rng.IntN(total)
		k := kinds[0]
		for _, c := range kinds {
			if r < c.weight {
				k = c
				break
			}
			r -= c.weight
		}
		var attrs map[string]any
		if k.attrs != nil {
			attrs = k.attrs(i)
		}
		cust := events.Customer{Email: fmt.Sprintf("customer%d@example.com", rng.IntN(2000))}
		out[i] = ingestEnvelope(tb, fmt.Sprintf("evt_%06d", i), k.typ, k.channel, cust, start.Add(time.Duration(i)*step), attrs)
	}
	return out
}

// BenchmarkShippedRules evaluates 10,000 mixed events against the shipped
// rule pack on moto_server and reports throughput and DynamoDB calls per
// event (make bench; one iteration is the whole batch).
//
// moto copies a whole table for every item of a transaction and keeps the
// memory, so a transaction's cost grows with the table: the day is
// evaluated in segments of ruleBenchSegment events on fresh tables,
// dropped after, a scheduled run closing each. Windows crossing a segment
// boundary lose their earlier events, which changes calls per event by
// little. Events/s is a floor set by the emulator (one Python process,
// requests serialized); calls per event is what carries over to DynamoDB.
func BenchmarkShippedRules(b *testing.B) {
	ctx := context.Background()
	cfg := mototest.Config(b)
	counter := &ruleCalls{next: cfg.HTTPClient, ops: map[string]int{}}
	cfg.HTTPClient = counter
	db := dynamodb.NewFromConfig(cfg)
	n := *ruleBenchEvents
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	evs := mixedEvents(b, n, start)
	for b.Loop() {
		var elapsed time.Duration
		calls, ticks, published := 0, 0, 0
		byOp := map[string]int{}
		for from := 0; from < n; from += ruleBenchSegment {
			b.StopTimer()
			names := map[string]string{}
			prefix := fmt.Sprintf("bench%d-", tableSeq.Add(1))
			for _, tb := range topology.Tables {
				names[tb.Name] = prefix + tb.Name
			}
			if err := dynamo.CreateTables(ctx, db, names); err != nil {
				b.Fatal(err)
			}
			var now time.Time
			svc, bus := shippedRuleService(b, names, db, func() time.Time { return now })
			counter.take()
			b.StartTimer()
			began := time.Now()
			for _, ev := range evs[from:min(from+ruleBenchSegment, n)] {
				now = ev.Time
				if err := svc.Handle(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
			elapsed += time.Since(began)
			b.StopTimer()
			c, ops := counter.take()
			calls += c
			for op, k := range ops {
				byOp[op] += k
			}
			now = now.Add(time.Minute)
			if err := svc.Handle(ctx, scheduled); err != nil {
				b.Fatal(err)
			}
			t, _ := counter.take()
			ticks += t
			published += bus.count(events.TypeFailureDetected)
			for _, table := range names {
				if _, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		var parts []string
		for op, k := range byOp {
			parts = append(parts, fmt.Sprintf("%s=%d", op, k))
		}
		sort.Strings(parts)
		b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(calls)/float64(n), "ddbcalls/event")
		b.Logf("%d events in %s: %d DynamoDB calls (%s), %d failures detected; %d scheduled runs: %d calls",
			n, elapsed.Round(time.Millisecond), calls, strings.Join(parts, " "), published, (n+ruleBenchSegment-1)/ruleBenchSegment, ticks)
	}
}
