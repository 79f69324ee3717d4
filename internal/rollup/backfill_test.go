package rollup

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/metric"
)

type source struct {
	stored   []Stored
	failures []events.Failure
}

func (s source) Stored(_ context.Context, fn func(Stored) error, progress func(done, total int64)) error {
	for i, x := range s.stored {
		if err := fn(x); err != nil {
			return err
		}
		progress(int64(i+1), int64(len(s.stored)))
	}
	return nil
}

func (s source) Failures(_ context.Context, from, to time.Time, fn func(events.Failure) error) error {
	for _, f := range s.failures {
		if !f.DetectedAt.Before(from) && f.DetectedAt.Before(to) {
			if err := fn(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// A backfill rebuilds from storage exactly what live counting produced,
// repairs counters that went wrong, and follows merged customers.
func TestBackfillRebuildsWhatCountingProduced(t *testing.T) {
	w := newWorld(t)
	var src source
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	add := func(id, typ, channel string, at time.Time, email string, attrs map[string]any) {
		cust := events.Customer{Email: email}
		ev := events.Interaction{ID: id, Type: typ, Channel: channel, OccurredAt: at, Customer: cust, Attributes: attrs}
		w.interaction(id, typ, channel, at, cust, attrs)
		cid, _ := w.store.CustomerOf(context.Background(), identity.Keys(channel, cust))
		src.stored = append(src.stored, Stored{CustomerID: cid, Interaction: &ev})
	}
	for i := range 30 {
		at := day.Add(time.Duration(i) * 97 * time.Minute)
		add(fmt.Sprint("t", i), "ticket.created", []string{"zendesk", "intercom"}[i%2], at, fmt.Sprintf("c%d@example.com", i%4), map[string]any{"plan": "pro"})
		add(fmt.Sprint("s", i), events.TypeSurveyResponded, "typeform", at, fmt.Sprintf("c%d@example.com", i%4), map[string]any{"survey": "nps", "score": float64(i % 11)})
	}
	f := events.Failure{ID: "flr_1", RuleID: "email.bounced", Team: "digital", Severity: "warning", DetectedAt: day.Add(time.Hour),
		Labels: map[string]string{"channel": "sendgrid"}, History: []events.FailureStep{{State: "open", At: day.Add(time.Hour)}, {State: "acknowledged", At: day.Add(2 * time.Hour)}}}
	w.send(events.SourceRules, events.TypeFailureDetected, f)
	w.send(events.SourceRules, events.TypeFailureAcknowledged, f)
	src.failures = append(src.failures, f)
	w.run()

	snapshot := func() string {
		out := ""
		for _, m := range []string{"interactions", "nps", "contacts", "repeat_contact_rate", "channel_hop_rate", "failures", "mtta"} {
			out += m + ": " + values(w.query(q{metric: m, gran: Hour, from: day, to: day.AddDate(0, 0, 3)}).Series[0]) + "\n"
		}
		return out
	}
	want := snapshot()

	// Counting goes wrong: a phantom interaction, a lost NPS answer.
	_ = w.store.Commit(context.Background(), Tx{Keys: []string{"bogus"}, Deltas: []metric.Delta{
		{Family: metric.FamilyVolume, Start: day.Add(3 * time.Hour), Dims: "channel=app&type=x", Fields: metric.Fields{"n": 5}},
		{Family: metric.ScoreFamily("nps"), Start: day, Dims: "channel=typeform", Fields: metric.Fields{"s0": -1}},
	}})
	w.run()
	if snapshot() == want {
		t.Fatal("the damage did not show")
	}

	b := &Backfill{Source: src, Store: w.store, Rollup: w.svc, Attributes: w.tally.Attributes}
	res, err := b.Run(context.Background(), day, day.AddDate(0, 0, 3))
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshot(); got != want {
		t.Errorf("after backfill:\n%s\nwant:\n%s", got, want)
	}
	if res.Interactions != 60 || res.Failures != 1 || res.Replaced.Written != 1 || res.Replaced.Zeroed != 1 {
		t.Errorf("backfill result %+v", res)
	}
	// Nothing left to repair: a second run writes nothing.
	if res, err := b.Run(context.Background(), day, day.AddDate(0, 0, 3)); err != nil || res.Replaced.Written+res.Replaced.Zeroed != 0 {
		t.Errorf("second backfill %+v, %v", res.Replaced, err)
	}

	// Two customers merged: their contacts become one history.
	a := &events.Interaction{ID: "m1", Type: "ticket.created", Channel: "zendesk", OccurredAt: day, Customer: events.Customer{Email: "x@example.com"}}
	c := &events.Interaction{ID: "m2", Type: "conversation.opened", Channel: "intercom", OccurredAt: day.Add(time.Hour), Customer: events.Customer{Email: "y@example.com"}}
	merged := source{stored: []Stored{{CustomerID: "x", Interaction: a}, {CustomerID: "y", Interaction: c}, {CustomerID: "y", MergedInto: "x"}}}
	st := NewMemoryStore()
	mb := &Backfill{Source: merged, Store: st, Rollup: &Service{Store: st, Log: quiet}}
	if _, err := mb.Run(context.Background(), day, day.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	ans, _ := Reader{Cubes: st}.Query(context.Background(), Request{Metric: mustMetric("channel_hop_rate"), Granularity: Day, From: day, To: day.Add(time.Hour), Location: time.UTC, Now: w.now})
	if p := ans.Series[0].Points[0]; p.Parts["hop"] != 1 || p.N != 2 {
		t.Errorf("merged customers' hop: %+v", p)
	}
}

func mustMetric(name string) metric.Metric {
	m, _ := metric.Lookup(name, nil)
	return m
}
