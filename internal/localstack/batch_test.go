package localstack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/api"
	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/deadletter"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/topology"
)

// A poison event among good ones in a bus queue's batch: the consumers
// report it alone in batchItemFailures, so it comes back alone after the
// queue's visibility timeout, each time, until its fifth try puts it on
// the queue's dead-letter queue, where the API lists it. Its neighbours
// are handled once: one customer each, counted once by the rollup.
func TestPoisonBusEventRetriedAloneToTheDeadLetterQueue(t *testing.T) {
	ctx := context.Background()
	at := testNow()
	var offset atomic.Int64
	st := startWith(t, t.TempDir(), "", func(c *localstack.Config) {
		c.RollupEvery = time.Hour
		c.HoldBatches = true
		c.Now = func() time.Time { return at.Add(time.Duration(offset.Load())) }
	})
	defer st.Stop()
	pub, err := st.Bus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	good := func(i int) events.Event {
		return events.Event{Source: events.SourceIngest, DetailType: "order.created", Time: at,
			Detail: events.Interaction{ID: fmt.Sprint("evt_batch_", i), Type: "order.created", Channel: "app", OccurredAt: at.Add(-time.Minute),
				ReceivedAt: at, Customer: events.Customer{ID: fmt.Sprint("batch-", i), Email: fmt.Sprintf("batch%d@example.com", i)},
				Attributes: map[string]any{"order_id": fmt.Sprint("o-", i)}}}
	}
	// An interaction whose id is a number: no consumer can read it.
	poison := events.Event{Source: events.SourceIngest, DetailType: "order.created", Time: at,
		Detail: json.RawMessage(`{"id":42,"type":"order.created","channel":"app"}`)}
	if err := pub.Publish(ctx, good(1), good(2), poison, good(3)); err != nil {
		t.Fatal(err)
	}
	idle(t, st)

	consumers := []string{topology.Journey, topology.Rules, topology.Rollup}
	visibility := map[string]time.Duration{}
	tries := 0
	for _, fn := range consumers {
		f, _ := topology.FunctionByName(fn)
		visibility[fn] = f.Bus.Visibility
		tries = max(tries, f.Bus.MaxReceives)
	}
	// Each further try comes when the clock passes the visibility timeout.
	for range tries - 1 {
		offset.Add(int64(slices.Max([]time.Duration{visibility[topology.Journey], visibility[topology.Rules], visibility[topology.Rollup]}) + time.Second))
		idle(t, st)
	}
	for _, fn := range consumers {
		f, _ := topology.FunctionByName(fn)
		sizes := st.Wakeups().BatchSizes(fn)
		// Rules and rollup also take the good interactions' journey events.
		if len(sizes) != f.Bus.MaxReceives || sizes[0] < 4 || slices.Max(sizes[1:]) != 1 {
			t.Errorf("%s was handed batches of %v, want the events once and then the poison alone, %d tries in all", fn, sizes, f.Bus.MaxReceives)
		}
	}

	var page deadletter.Page
	if code := call(t, st, "GET", "/v1/deadletters", &page); code != 200 {
		t.Fatalf("dead letters: %d", code)
	}
	parked := map[string]int{}
	for _, q := range page.Queues {
		for _, l := range q.Letters {
			if l.Kind != deadletter.KindEvent || l.DetailType != "order.created" || l.Receives < 1 {
				t.Errorf("%s: letter %+v", q.Name, l)
			}
			parked[q.Name]++
		}
	}
	for _, fn := range consumers {
		if q := "ocx-" + localstack.Stage + "-" + topology.BusQueueName(fn) + "-dlq"; parked[q] != 1 {
			t.Errorf("%s: %d letters, want the poison event once (all: %v)", q, parked[q], parked)
		}
	}
	if page.Total != len(consumers) {
		t.Errorf("%d letters in all, want one per consumer: %v", page.Total, parked)
	}

	// The neighbours: a customer each, with one interaction, counted once.
	for i := 1; i <= 3; i++ {
		var v customer.View
		if code := lookup(t, st, fmt.Sprintf("email:batch%d@example.com", i), &v); code != 200 || len(v.Interactions) != 1 {
			t.Errorf("customer %d: %d, %d interactions", i, code, len(v.Interactions))
		}
	}
	if err := st.Tick(ctx, "rollup"); err != nil {
		t.Fatal(err)
	}
	var res api.SeriesResponse
	q := url.Values{"granularity": {"day"}, "from": {at.Add(-24 * time.Hour).Format(time.RFC3339)}, "to": {at.Add(24 * time.Hour).Format(time.RFC3339)}}
	if code := call(t, st, "GET", "/v1/metrics/interactions?"+q.Encode(), &res); code != 200 {
		t.Fatalf("interactions metric: %d", code)
	}
	var n int64
	for _, p := range res.Points {
		n += p.N
	}
	if n != 3 {
		t.Errorf("interactions counted %d, want the three good ones once", n)
	}
}
