package metric

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func contact(id, channel string, at time.Time) *Interaction {
	return &Interaction{ID: id, Type: "ticket.created", Channel: channel, At: at, Contact: true}
}

// totals sums deltas per field, ignoring slots and dimensions.
func totals(ds []Delta) Fields {
	f := Fields{}
	for _, d := range ds {
		f.Add(d.Fields)
	}
	return f
}

func TestContactsHandComputed(t *testing.T) {
	day := 24 * time.Hour
	// Ann: zendesk, then intercom 2 days later (repeat, hop), then zendesk
	// 8 days after that (outside the window: a first contact again).
	var h Contacts
	var ds []Delta
	ds = append(ds, h.Add(contact("a1", "zendesk", t0))...)
	ds = append(ds, h.Add(contact("a2", "intercom", t0.Add(2*day)))...)
	ds = append(ds, h.Add(contact("a3", "zendesk", t0.Add(10*day)))...)
	want := Fields{"contacts": 3, "repeat": 1, "hop": 1, "followed": 1}
	if got := totals(ds); !sameFields(got, want) {
		t.Fatalf("totals %v, want %v", got, want)
	}
	// The repeat and hop belong to the second contact's slot and channel,
	// "followed" to the first's.
	for _, d := range ds {
		switch {
		case d.Fields["hop"] == 1 && (d.Dims != "channel=intercom" || !d.Start.Equal(t0.Add(2*day))):
			t.Errorf("hop counted at %s %s", d.Start, d.Dims)
		case d.Fields["followed"] == 1 && (d.Dims != "channel=zendesk" || !d.Start.Equal(t0)):
			t.Errorf("followed counted at %s %s", d.Start, d.Dims)
		}
	}
	// The window's edge: exactly 7 days later is a repeat.
	var e Contacts
	e.Add(contact("b1", "app", t0))
	if got := totals(e.Add(contact("b2", "app", t0.Add(ContactWindow)))); got["repeat"] != 1 || got["hop"] != 0 {
		t.Errorf("contact exactly 7 days later: %v, want a same-channel repeat", got)
	}
	// A redelivered contact counts nothing.
	if ds := e.Add(contact("b2", "app", t0.Add(ContactWindow))); len(ds) != 0 {
		t.Errorf("duplicate contact counted %v", ds)
	}
}

// A late contact corrects the contacts around it, so whatever order
// contacts arrive in, the counts per slot and channel are those of adding
// them in time order.
func TestContactsOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	channels := []string{"zendesk", "intercom", "twilio"}
	for trial := range 300 {
		var cs []*Interaction
		for i := range 2 + rng.IntN(8) {
			at := t0.Add(time.Duration(rng.IntN(20*24)) * time.Hour)
			cs = append(cs, contact(fmt.Sprintf("c%d", i), channels[rng.IntN(3)], at))
		}
		sorted := append([]*Interaction(nil), cs...)
		sort.Slice(sorted, func(i, j int) bool {
			return sorted[i].At.Before(sorted[j].At) || sorted[i].At.Equal(sorted[j].At) && sorted[i].ID < sorted[j].ID
		})
		want := cellsOf(t, sorted)
		rng.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
		if got := cellsOf(t, cs); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("trial %d: out of order %v, in order %v", trial, got, want)
		}
	}
}

func cellsOf(t *testing.T, cs []*Interaction) map[string]Fields {
	var h Contacts
	out := map[string]Fields{}
	for _, c := range cs {
		for _, d := range h.Add(c) {
			k := d.Start.Format(time.RFC3339) + " " + d.Dims
			if out[k] == nil {
				out[k] = Fields{}
			}
			out[k].Add(d.Fields)
		}
	}
	for k, f := range out {
		for n, v := range f {
			if v < 0 {
				t.Fatalf("%s %s went negative", k, n)
			}
			if v == 0 {
				delete(f, n)
			}
		}
	}
	return out
}

func step(typ, stage, prev string, entered time.Time, exited *time.Time) *JourneyStep {
	return &JourneyStep{Type: typ, Journey: "order-to-delivery", Instance: "o1", Team: "logistics",
		Stage: stage, PreviousStage: prev, At: entered, EnteredAt: entered, ExitedAt: exited}
}

func TestInstanceFunnelAndTimeInStage(t *testing.T) {
	placed, fulfilled, delivered := t0, t0.Add(26*time.Hour), t0.Add(26*time.Hour+3*24*time.Hour)
	evs := []*JourneyStep{
		step(events.TypeJourneyStarted, "placed", "", placed, nil),
		step(events.TypeJourneyStageChanged, "fulfilled", "placed", fulfilled, &fulfilled),
		step(events.TypeJourneyCompleted, "fulfilled", "", fulfilled, &delivered),
	}
	evs[2].At = delivered
	run := func(order []int) map[string]Fields {
		var s Instance
		out := map[string]Fields{}
		for _, i := range order {
			for _, d := range s.Step(evs[i]) {
				if out[d.Dims] == nil {
					out[d.Dims] = Fields{}
				}
				out[d.Dims].Add(d.Fields)
			}
		}
		// Every one of them again: a redelivery past the marker must not
		// count a stage twice.
		for _, d := range s.Step(evs[1]) {
			out[d.Dims].Add(Fields{"reached": d.Fields["reached"]})
		}
		return out
	}
	inOrder := run([]int{0, 1, 2})
	placedDims := Dims{"journey": "order-to-delivery", "stage": "placed", "team": "logistics"}.Encode()
	fulfilledDims := Dims{"journey": "order-to-delivery", "stage": "fulfilled", "team": "logistics"}.Encode()
	p, f := inOrder[placedDims], inOrder[fulfilledDims]
	if p["started"] != 1 || p["reached"] != 1 || StageTime.Count(p) != 1 || StageTime.Mean(p) != 26*3600 {
		t.Errorf("placed: %v", p)
	}
	if f["reached"] != 1 || f["completed"] != 1 || StageTime.Count(f) != 1 || StageTime.Mean(f) != 3*24*3600 {
		t.Errorf("fulfilled: %v", f)
	}
	// The stage change delivered before the start: the exit waits for its
	// entry and the time in stage is the same.
	if late := run([]int{1, 0, 2}); fmt.Sprint(late) != fmt.Sprint(inOrder) {
		t.Errorf("out of order %v, in order %v", late, inOrder)
	}
	// An event that names when the previous stage was entered needs no record.
	var s Instance
	ev := step(events.TypeJourneyStageChanged, "fulfilled", "placed", fulfilled, &fulfilled)
	ev.PreviousEnteredAt = &placed
	if got := totals(s.Step(ev)); StageTime.Count(got) != 1 || StageTime.Mean(got) != 26*3600 {
		t.Errorf("with previous_entered_at: %v", got)
	}
	// Only the first failure of an instance counts.
	fs := &FailureStep{Type: events.TypeFailureDetected, Journey: "order-to-delivery", Instance: "o1", Stage: "placed", DetectedAt: t0}
	if a, b := totals(s.Fail(fs)), totals(s.Fail(fs)); a["failed"] != 1 || b["failed"] != 0 {
		t.Errorf("failures counted %v then %v", a, b)
	}
}

// Quantiles from a sketch, and from the merge of sketches of parts of the
// sample, are within the stated relative error of the exact quantiles.
func TestSketchQuantilesWithinRelativeError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var exact []float64
	whole, merged := Fields{}, Fields{}
	parts := make([]Fields, 24)
	for i := range parts {
		parts[i] = Fields{}
	}
	for i := range 20000 {
		// Log-normal around 20 minutes with a long tail, plus some zeros.
		ms := int64(math.Exp(rng.NormFloat64()*1.5) * 1.2e6)
		if i%50 == 0 {
			ms = 0
		}
		exact = append(exact, float64(ms)/1000)
		f := StageTime.Observe(time.Duration(ms) * time.Millisecond)
		whole.Add(f)
		parts[rng.IntN(len(parts))].Add(f)
	}
	for _, p := range parts {
		merged.Add(p)
	}
	if !sameFields(whole, merged) {
		t.Fatal("merged parts differ from the whole")
	}
	sort.Float64s(exact)
	qs := []float64{0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1}
	got, err := StageTime.Quantiles(merged, qs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		want := exact[int(q*float64(len(exact)-1))]
		if math.Abs(got[i]-want) > RelativeAccuracy*want+1e-9 {
			t.Errorf("q%.3f = %v, exact %v: off by more than %v%%", q, got[i], want, 100*RelativeAccuracy)
		}
	}
	var sum float64
	for _, v := range exact {
		sum += v
	}
	if m := StageTime.Mean(merged); !near(m, sum/float64(len(exact)), 1e-9) {
		t.Errorf("mean %v, exact %v", m, sum/float64(len(exact)))
	}
}

// Every sample event the contracts ship is read as its type says.
func TestObserveSamples(t *testing.T) {
	files, err := filepath.Glob("../../events/samples/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, f := range files {
		typ := strings.TrimSuffix(filepath.Base(f), ".json")
		b, _ := os.ReadFile(f)
		source := events.SourceIngest
		switch {
		case typ == "webhook.standard", typ == events.TypeFailureEscalated:
			// An escalation is a message to people, not a figure.
			continue
		case strings.HasPrefix(typ, "journey."):
			source = events.SourceJourney
		case strings.HasPrefix(typ, "failure."):
			source = events.SourceRules
		}
		o, ok, err := Observe(source, typ, "env-1", b, []string{"plan"})
		if err != nil || !ok {
			t.Errorf("%s: %v %v", typ, ok, err)
			continue
		}
		var ds []Delta
		switch {
		case o.Interaction != nil:
			ds = o.Interaction.Deltas()
		case o.Journey != nil:
			var s Instance
			ds = s.Step(o.Journey)
		case o.Failure != nil:
			ds = o.Failure.Deltas()
		case o.Loop != nil:
			ds = o.Loop.Deltas()
		}
		if len(ds) == 0 {
			t.Errorf("%s counts nothing", typ)
		}
		if !strings.HasPrefix(o.Key, typ+"#") {
			t.Errorf("%s: key %q", typ, o.Key)
		}
	}
	// A failure about a journey names it.
	b := []byte(`{"id":"flr_1","rule_id":"journey.stalled","team":"cx","severity":"warning","labels":{"channel":"zendesk"},
		"detected_at":"2026-11-23T12:00:00Z","evidence":[{"event_id":"jev_1","type":"journey.started","channel":"zendesk","occurred_at":"2026-11-23T08:00:00Z",
		"customer":{},"attributes":{"journey":"support-case","instance":"381","stage":"new","team":"cx-support"}}]}`)
	o, _, err := Observe(events.SourceRules, events.TypeFailureDetected, "e", b, nil)
	if err != nil || o.Failure.Journey != "support-case" || o.Failure.Instance != "381" || o.Failure.Stage != "new" || o.Failure.JourneyTeam != "cx-support" {
		t.Errorf("journey failure read as %+v, %v", o.Failure, err)
	}
	// Outbound calls are not contacts; calls without a direction are.
	for dir, want := range map[string]bool{"outbound-api": false, "inbound": true, "": true} {
		ev := events.Interaction{ID: "x", Type: "call.completed", Channel: "twilio", Attributes: map[string]any{}}
		if dir != "" {
			ev.Attributes["direction"] = dir
		}
		if got := ObserveInteraction(ev, nil).Contact; got != want {
			t.Errorf("call with direction %q: contact %v", dir, got)
		}
	}
	// Out-of-scale or fractional scores are not scored.
	for _, score := range []float64{11, 6.5, -1} {
		ev := events.Interaction{Type: events.TypeSurveyResponded, Attributes: map[string]any{"survey": "nps", "score": score}}
		if in := ObserveInteraction(ev, nil); in.Survey != "" {
			t.Errorf("score %v scored", score)
		}
	}
}

func sameFields(a, b Fields) bool {
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

// The bins are stored in counters: they must stay those sketches-go's
// LogarithmicMapping(0.01) assigned when the counters were written
// (vectors taken from sketches-go v1.4.7).
func TestSketchBinsMatchDDSketch(t *testing.T) {
	for _, c := range []struct {
		v     float64
		index int
		value float64
	}{
		{0.001, -346, 0.0009974781146370227},
		{0.137, -100, 0.13667952325023067},
		{0.5, -35, 0.501539453403326},
		{1, 0, 1.0099999999999998},
		{1.5, 20, 1.506763035863038},
		{59.9, 204, 59.74504981014515},
		{3600, 409, 3605.5262392088084},
		{2.592e+06, 738, 2.598493365893952e+06},
	} {
		i := durations.Index(c.v)
		if i != c.index {
			t.Errorf("Index(%v) = %d, want %d", c.v, i, c.index)
		}
		if got := durations.Value(i); math.Abs(got-c.value) > 1e-9*c.value {
			t.Errorf("Value(%d) = %v, want %v", i, got, c.value)
		}
	}
}
