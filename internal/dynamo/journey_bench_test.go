package dynamo_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
)

// callCounter counts DynamoDB API calls by operation at the HTTP layer:
// retries included, which is what is billed and throttled.
type callCounter struct {
	next aws.HTTPClient
	mu   sync.Mutex
	ops  map[string]int
}

func (c *callCounter) Do(r *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	c.mu.Lock()
	c.ops[op]++
	c.mu.Unlock()
	return c.next.Do(r)
}

func (c *callCounter) reset() {
	c.mu.Lock()
	c.ops = map[string]int{}
	c.mu.Unlock()
}

func (c *callCounter) total() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	var parts []string
	for op, k := range c.ops {
		n += k
		parts = append(parts, fmt.Sprintf("%s=%d", op, k))
	}
	sort.Strings(parts)
	return n, strings.Join(parts, " ")
}

func countedWorld(b *testing.B) (*world, *callCounter) {
	cfg := mototest.Config(b)
	cc := &callCounter{next: cfg.HTTPClient, ops: map[string]int{}}
	cfg.HTTPClient = cc
	return newWorldOn(b, dynamodb.NewFromConfig(cfg)), cc
}

// BenchmarkApply measures the journey handler against moto_server: time
// per event (dominated by the emulator, which serves one request at a
// time) and DynamoDB calls per event, the figure that is a direct cost.
func BenchmarkApply(b *testing.B) {
	at := time.Now().UTC().Add(-time.Hour)
	order := func(i int, cust events.Customer) events.Interaction {
		return event("order.created", "shopify", cust, at, map[string]any{"order_id": fmt.Sprint("o-", evtSeq.Load(), "-", i)})
	}
	cases := []struct {
		name string
		// setup runs untimed before op i; op is the event applied.
		setup func(w *world, i int)
		op    func(i int) events.Interaction
	}{
		{
			name: "new customer, starts a journey",
			op: func(i int) events.Interaction {
				return order(i, events.Customer{ID: fmt.Sprint("n", evtSeq.Load()), Email: fmt.Sprintf("n%d@example.com", evtSeq.Load())})
			},
		},
		{
			name: "known customer, no journey",
			op: func(i int) events.Interaction {
				return event("message.received", "twilio", events.Customer{Phone: "+14017122661"}, at, nil)
			},
		},
		{
			name: "known customer, moves a journey",
			op: func(i int) events.Interaction {
				return event("order.fulfilled", "shopify", events.Customer{ID: "k1", Email: "k@example.com"}, at.Add(time.Duration(i)*time.Second), map[string]any{"order_id": "bench-order"})
			},
		},
		{
			name: "redelivery",
			op: func(i int) events.Interaction {
				ev := event("message.received", "twilio", events.Customer{Phone: "+14017122661"}, at, nil)
				ev.ID = "evt_00000000000000000000000dup"
				return ev
			},
		},
		{
			name: "merges two customers",
			setup: func(w *world, i int) {
				w.apply(b, event("message.received", "twilio", events.Customer{Phone: fmt.Sprintf("+1401712%04d", i%10000)}, at, nil),
					event("ticket.created", "zendesk", events.Customer{Email: fmt.Sprintf("m%d@example.com", i)}, at, map[string]any{"ticket_id": fmt.Sprint(i)}))
			},
			op: func(i int) events.Interaction {
				return order(i, events.Customer{Email: fmt.Sprintf("m%d@example.com", i), Phone: fmt.Sprintf("+1401712%04d", i%10000)})
			},
		},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w, cc := countedWorld(b)
			// Warm: the known customer and the order exist; a redelivery
			// has a first delivery.
			w.apply(b,
				event("message.received", "twilio", events.Customer{Phone: "+14017122661"}, at, nil),
				event("order.created", "shopify", events.Customer{ID: "k1", Email: "k@example.com"}, at, map[string]any{"order_id": "bench-order"}))
			if c.setup == nil {
				w.apply(b, c.op(0))
			}
			calls := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if c.setup != nil {
					b.StopTimer()
					c.setup(w, i)
					b.StartTimer()
				}
				ev := c.op(i)
				cc.reset()
				if err := w.svc.Apply(context.Background(), ev); err != nil {
					b.Fatal(err)
				}
				n, _ := cc.total()
				calls += n
			}
			b.StopTimer()
			_, last := cc.total()
			b.ReportMetric(float64(calls)/float64(b.N), "ddb-calls/event")
			b.Logf("%s: last event: %s", c.name, last)
		})
	}
}
