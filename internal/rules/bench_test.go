package rules

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/team"
)

// traffic is n events of a day for 2,000 customers, mostly email delivery,
// with surveys, contacts, payments and orders (the mix BenchmarkShippedRules
// in internal/dynamo uses too).
func traffic(b *testing.B, n int) []events.Envelope {
	rng := rand.New(rand.NewPCG(1, 2))
	mix := []struct {
		weight int
		typ    string
		attrs  func(i int) map[string]any
	}{
		{300, "email.sent", nil}, {200, "email.delivered", nil}, {100, "email.opened", nil}, {15, "email.bounced", nil},
		{30, "message.delivered", nil}, {5, "message.undelivered", nil},
		{80, "survey.responded", func(int) map[string]any {
			return map[string]any{"survey": []string{"nps", "csat", "ces"}[rng.IntN(3)], "score": rng.IntN(7) + 1}
		}},
		{50, "ticket.created", func(i int) map[string]any { return map[string]any{"ticket_id": fmt.Sprint(i)} }},
		{50, "ticket.replied", func(i int) map[string]any {
			return map[string]any{"ticket_id": fmt.Sprint(i - rng.IntN(50)), "author": "agent", "public": true}
		}},
		{40, "conversation.opened", nil}, {30, "call.completed", func(int) map[string]any { return map[string]any{"direction": "inbound"} }},
		{40, "payment.succeeded", nil}, {20, "payment.failed", nil},
		{40, "order.created", func(i int) map[string]any {
			return map[string]any{"order_id": fmt.Sprint(i), "fulfil_by": "2026-01-07T00:00:00Z"}
		}},
		{30, "order.fulfilled", func(i int) map[string]any { return map[string]any{"order_id": fmt.Sprint(i - rng.IntN(40))} }},
	}
	total := 0
	for _, m := range mix {
		total += m.weight
	}
	out := make([]events.Envelope, n)
	step := 24 * time.Hour / time.Duration(n)
	for i := range out {
		r := rng.IntN(total)
		k := 0
		for r >= mix[k].weight {
			r -= mix[k].weight
			k++
		}
		var attrs map[string]any
		if mix[k].attrs != nil {
			attrs = mix[k].attrs(i)
		}
		out[i] = interaction(b, fmt.Sprintf("evt_%06d", i), mix[k].typ, fmt.Sprintf("c%d@example.com", rng.IntN(2000)),
			DefaultTestStart.Add(time.Duration(i)*step), attrs)
	}
	return out
}

func shippedForBench(b *testing.B) []Rule {
	reg, err := team.Load(config.Shipped, "teams.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for _, t := range reg.All() {
		ids = append(ids, t.ID)
	}
	rs, err := Load(config.Shipped, "rules", ids)
	if err != nil {
		b.Fatal(err)
	}
	return rs
}

// BenchmarkMatch is pattern matching alone: decode, then the pattern index.
func BenchmarkMatch(b *testing.B) {
	eng, err := NewEngine(shippedForBench(b))
	if err != nil {
		b.Fatal(err)
	}
	evs := traffic(b, 10000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := eng.MatchEnvelope(evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEvaluate is the whole evaluation of 10,000 mixed events against
// the shipped pack with state in memory: what a rules function spends on
// CPU, DynamoDB's latency aside.
func BenchmarkEvaluate(b *testing.B) {
	rs := shippedForBench(b)
	evs := traffic(b, 10000)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for b.Loop() {
		b.StopTimer()
		eng, err := NewEngine(rs)
		if err != nil {
			b.Fatal(err)
		}
		mem := failure.NewMemory()
		var now time.Time
		clock := func() time.Time { return now }
		ann := &failure.Announcer{Outbox: mem, Bus: &flakyBus{}, Log: log}
		svc := &Service{Engine: eng, Store: NewMemoryStore(mem), Failures: &failure.Service{Store: mem, Announcer: ann, Now: clock},
			Announcer: ann, Now: clock, Log: log}
		b.StartTimer()
		for _, ev := range evs {
			now = ev.Time
			if err := svc.Handle(context.Background(), ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
}
