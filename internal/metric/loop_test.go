package metric

import (
	"math"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
)

func TestLoopMetrics(t *testing.T) {
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	f := Fields{}
	add := func(l LoopStep) {
		l.DetectedAt, l.Rule, l.Team, l.Severity = at, "survey.detractor", "cx", "warning"
		for _, d := range l.Deltas() {
			if !d.Start.Equal(Slot(at)) {
				t.Fatalf("counted in slot %s, want the detection's", d.Start)
			}
			f.Add(d.Fields)
		}
	}
	// 3 recovered (2 of them closed), 1 churned; followed up after 1h, 2h,
	// 4h: the p90 is the value at rank ⌊0.9 × 2⌋, 2h (RelativeAccuracy).
	add(LoopStep{Type: events.TypeFailureOutcome, Outcome: events.OutcomeRecovered, Closed: true})
	add(LoopStep{Type: events.TypeFailureOutcome, Outcome: events.OutcomeRecovered, Closed: true})
	add(LoopStep{Type: events.TypeFailureOutcome, Outcome: events.OutcomeRecovered})
	add(LoopStep{Type: events.TypeFailureOutcome, Outcome: events.OutcomeChurned})
	add(LoopStep{Type: events.TypeFailureOutcome, Outcome: "none"}) // no outcome counts nothing
	for _, h := range []time.Duration{1, 2, 4} {
		add(LoopStep{Type: events.TypeFailureFollowedUp, FollowedUpAt: at.Add(h * time.Hour)})
	}
	m := func(name string) Point {
		mt, ok := Lookup(name, nil)
		if !ok {
			t.Fatalf("no metric %s", name)
		}
		return mt.Compute(f)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 0.01*want+1e-9 }
	if p := m("recovery_rate"); p.Value != 75 || p.N != 4 || !(p.Low < 75 && p.High > 75) || p.Parts["recovered"] != 3 || !p.LowSample {
		t.Errorf("recovery_rate %+v", p)
	}
	if p := m("churn_after_failure_rate"); p.Value != 25 || p.N != 4 {
		t.Errorf("churn_after_failure_rate %+v", p)
	}
	if p := m("loop_closed_rate"); p.Value != 50 || p.N != 4 {
		t.Errorf("loop_closed_rate %+v", p)
	}
	if p := m("time_to_follow_up"); p.N != 3 || !near(p.Value, 7200) || !near(p.Stats["p90"], 7200) || p.Stats["mean"] != 8400 {
		t.Errorf("time_to_follow_up %+v", p)
	}
}
