package journey_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/events/schema"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/journey"
)

const testJourney = `journeys:
  - id: parcel
    description: a test journey with three stages
    team: cx-support
    instance: detail.attributes.parcel
    start:
      detail-type: ["parcel.booked"]
    stages:
      - id: booked
        sla: 1h
      - id: collected
        sla: 2h
        enter:
          detail-type: ["parcel.collected"]
      - id: out-for-delivery
        enter:
          detail-type: ["parcel.out"]
    complete:
      detail-type: ["parcel.delivered"]
    abandon:
      detail-type: ["parcel.lost"]
`

func testDef(t testing.TB) *journey.Definition {
	t.Helper()
	defs, err := journey.Load(fstest.MapFS{"j/parcel.yaml": {Data: []byte(testJourney)}}, "j", []string{"cx-support"})
	if err != nil {
		t.Fatal(err)
	}
	return &defs[0]
}

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func at(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

func stage(id string, h int, s string) journey.Step {
	return journey.Step{EventID: id, At: at(h), Kind: journey.StepStage, Stage: s, Channel: "app"}
}

func ending(id string, h int, kind string) journey.Step {
	return journey.Step{EventID: id, At: at(h), Kind: kind, Channel: "app"}
}

// arrive applies steps in arrival order the way the service does, and
// returns the final state and every journey event announced on the way.
func arrive(d *journey.Definition, steps ...journey.Step) (journey.State, []events.JourneyEvent) {
	var applied []journey.Step
	var out []events.JourneyEvent
	for _, s := range steps {
		before := journey.Fold(d, applied)
		applied = append(applied, s)
		after := journey.Fold(d, applied)
		out = append(out, journey.Transitions(d, "p1", before, after)...)
	}
	return journey.Fold(d, applied), out
}

// brief renders history and events compactly for comparison.
func brief(st journey.State, evs []events.JourneyEvent) (string, string) {
	var h []string
	for _, v := range st.History {
		end := "-"
		if v.ExitedAt != nil {
			end = fmt.Sprint(v.ExitedAt.Sub(t0).Hours())
		}
		h = append(h, fmt.Sprintf("%s[%v-%s]", v.Stage, v.EnteredAt.Sub(t0).Hours(), end))
	}
	var e []string
	for _, ev := range evs {
		s := strings.TrimPrefix(ev.Type, "journey.") + ":" + ev.Stage
		if ev.PreviousStage != "" {
			s += "<" + ev.PreviousStage
		}
		if ev.SLADueAt != nil {
			s += fmt.Sprintf("@due%v", ev.SLADueAt.Sub(t0).Hours())
		}
		e = append(e, s)
	}
	return st.Outcome + " " + strings.Join(h, " "), strings.Join(e, " ")
}

func TestFoldIsOrderTolerantAndNeverMovesBack(t *testing.T) {
	d := testDef(t)
	cases := []struct {
		name        string
		steps       []journey.Step
		wantState   string
		wantEvents  string
		wantSLADue  float64 // hours after t0; 0: none
		wantOutcome string
	}{
		{
			name:       "in order",
			steps:      []journey.Step{stage("e1", 1, "booked"), stage("e2", 2, "collected"), ending("e3", 5, journey.StepComplete)},
			wantState:  "completed booked[1-2] collected[2-5]",
			wantEvents: "started:booked@due2 stage_changed:collected<booked@due4 completed:collected",
		},
		{
			name:       "reversed: the ending waits, then the history is placed right",
			steps:      []journey.Step{ending("e3", 5, journey.StepComplete), stage("e2", 2, "collected"), stage("e1", 1, "booked")},
			wantState:  "completed booked[1-2] collected[2-5]",
			wantEvents: "started:collected@due4 completed:collected",
		},
		{
			name:       "a late earlier stage is history, not a step back",
			steps:      []journey.Step{stage("e1", 1, "booked"), stage("e2", 3, "collected"), stage("e4", 2, "booked")},
			wantState:  "open booked[1-3] collected[3--]",
			wantEvents: "started:booked@due2 stage_changed:collected<booked@due5",
			wantSLADue: 5,
		},
		{
			name:       "a late stage between two is inserted",
			steps:      []journey.Step{stage("e1", 1, "booked"), stage("e3", 6, "out-for-delivery"), stage("e2", 3, "collected")},
			wantState:  "open booked[1-3] collected[3-6] out-for-delivery[6--]",
			wantEvents: "started:booked@due2 stage_changed:out-for-delivery<booked",
		},
		{
			name:       "a late earlier entry of the current stage moves its SLA",
			steps:      []journey.Step{stage("e1", 1, "booked"), stage("e2", 5, "collected"), stage("e5", 3, "collected")},
			wantState:  "open booked[1-3] collected[3--]",
			wantEvents: "started:booked@due2 stage_changed:collected<booked@due7 stage_changed:collected<booked@due5",
			wantSLADue: 5,
		},
		{
			name:       "a journey seen first mid-way starts there",
			steps:      []journey.Step{stage("e2", 2, "collected")},
			wantState:  "open collected[2--]",
			wantEvents: "started:collected@due4",
			wantSLADue: 4,
		},
		{
			name:       "an ending timed before the start ends it as it starts",
			steps:      []journey.Step{ending("e9", 1, journey.StepAbandon), stage("e1", 2, "booked")},
			wantState:  "abandoned booked[2-2]",
			wantEvents: "started:booked@due3 abandoned:booked",
		},
		{
			name:       "nothing reopens an ended journey",
			steps:      []journey.Step{stage("e1", 1, "booked"), ending("e2", 2, journey.StepComplete), ending("e3", 3, journey.StepAbandon), stage("e4", 4, "collected")},
			wantState:  "completed booked[1-2]",
			wantEvents: "started:booked@due2 completed:booked",
		},
		{
			name:       "only an ending: pending, nothing announced",
			steps:      []journey.Step{ending("e3", 5, journey.StepComplete)},
			wantState:  "pending ",
			wantEvents: "",
		},
		{
			name:       "a stage removed from configuration is ignored",
			steps:      []journey.Step{stage("e1", 1, "booked"), stage("e2", 2, "weighed")},
			wantState:  "open booked[1--]",
			wantEvents: "started:booked@due2",
			wantSLADue: 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, evs := arrive(d, c.steps...)
			gotState, gotEvents := brief(st, evs)
			if gotState != c.wantState {
				t.Errorf("state = %q, want %q", gotState, c.wantState)
			}
			if gotEvents != c.wantEvents {
				t.Errorf("events = %q, want %q", gotEvents, c.wantEvents)
			}
			switch {
			case c.wantSLADue == 0 && st.SLADueAt != nil:
				t.Errorf("sla_due_at = %s, want none", st.SLADueAt)
			case c.wantSLADue != 0 && (st.SLADueAt == nil || !st.SLADueAt.Equal(t0.Add(time.Duration(c.wantSLADue*float64(time.Hour))))):
				t.Errorf("sla_due_at = %v, want t0+%vh", st.SLADueAt, c.wantSLADue)
			}
		})
	}
}

// Every permutation of one journey's events ends in the same state.
func TestFoldConvergesWhateverTheArrivalOrder(t *testing.T) {
	d := testDef(t)
	steps := []journey.Step{stage("e1", 1, "booked"), stage("e2", 2, "collected"), stage("e3", 4, "out-for-delivery"), ending("e4", 6, journey.StepComplete)}
	want, _ := brief(journey.Fold(d, steps), nil)
	permute(steps, func(p []journey.Step) {
		st, evs := arrive(d, p...)
		if got, _ := brief(st, nil); got != want {
			t.Errorf("arrival %v: %q, want %q", ids(p), got, want)
		}
		if n := len(evs); n == 0 || evs[n-1].Type != events.TypeJourneyCompleted {
			t.Errorf("arrival %v: last event is not journey.completed: %v", ids(p), evs)
		}
	})
}

func permute(s []journey.Step, f func([]journey.Step)) {
	var rec func(int)
	rec = func(k int) {
		if k == len(s) {
			f(append([]journey.Step(nil), s...))
			return
		}
		for i := k; i < len(s); i++ {
			s[k], s[i] = s[i], s[k]
			rec(k + 1)
			s[k], s[i] = s[i], s[k]
		}
	}
	rec(0)
}

func ids(steps []journey.Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.EventID
	}
	return out
}

func interaction(id, typ string, attrs map[string]any) events.Interaction {
	return events.Interaction{
		ID: "evt_" + fmt.Sprintf("%026x", len(id)*7919+len(typ)), Type: typ, Channel: "shopify", OccurredAt: t0, ReceivedAt: t0,
		Customer: events.Customer{Email: "ann@example.com"}, Attributes: attrs, DeliveryID: "d", Raw: "s3://b/k",
	}
}

func TestShippedJourneysMatchChannelEvents(t *testing.T) {
	defs, err := journey.Load(config.Shipped, "journeys", nil)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := journey.NewCatalog(defs)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ev   events.Interaction
		want string // journey/instance/kind:stage, or "" for no match
	}{
		{"order placed", interaction("a", "order.created", map[string]any{"order_id": "820982911946154508"}), "order-to-delivery/820982911946154508/stage:placed"},
		{"order fulfilled", interaction("b", "order.fulfilled", map[string]any{"order_id": "8209"}), "order-to-delivery/8209/stage:fulfilled"},
		{"order cancelled", interaction("c", "order.cancelled", map[string]any{"order_id": "8209"}), "order-to-delivery/8209/abandon:"},
		{"ticket opened", interaction("d", "ticket.created", map[string]any{"ticket_id": "5158"}), "support-case/5158/stage:new"},
		{"agent answered", interaction("e", "ticket.replied", map[string]any{"ticket_id": "5158", "author": "agent", "public": true}), "support-case/5158/stage:responded"},
		{"internal note", interaction("f", "ticket.replied", map[string]any{"ticket_id": "5158", "author": "agent", "public": false}), ""},
		{"customer wrote again", interaction("g", "ticket.replied", map[string]any{"ticket_id": "5158", "author": "customer", "public": true}), ""},
		{"ticket solved", interaction("h", "ticket.solved", map[string]any{"ticket_id": "5158"}), "support-case/5158/complete:"},
		{"payment failed", interaction("i", "payment.failed", map[string]any{"invoice_id": "in_1", "attempt_count": 1}), "failed-payment-recovery/in_1/stage:failed"},
		{"retry failed", interaction("j", "payment.failed", map[string]any{"invoice_id": "in_1", "attempt_count": 3}), "failed-payment-recovery/in_1/stage:retry-failed"},
		{"charge failed without invoice", interaction("k", "payment.failed", map[string]any{"charge_id": "ch_1"}), ""},
		{"nps answer", interaction("l", "survey.responded", map[string]any{"survey": "nps", "score": 9}), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ms, err := cat.Match(c.ev)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, m.Def.ID+"/"+m.Instance+"/"+m.Step.Kind+":"+m.Step.Stage)
			}
			if strings.Join(got, ",") != c.want {
				t.Fatalf("matches %v, want %q", got, c.want)
			}
		})
	}
}

// The journey events the service emits are what the schemas in events/
// describe.
func TestEmittedEventsMatchTheirSchemas(t *testing.T) {
	schemas, err := schema.Compile()
	if err != nil {
		t.Fatal(err)
	}
	d := testDef(t)
	var evs []events.JourneyEvent
	for _, steps := range [][]journey.Step{
		{stage("e1", 1, "booked"), stage("e2", 2, "collected"), stage("e3", 3, "out-for-delivery"), ending("e4", 4, journey.StepComplete)},
		{stage("e1", 1, "booked"), ending("e5", 2, journey.StepAbandon)},
	} {
		_, got := arrive(d, steps...)
		evs = append(evs, got...)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		e.CustomerID = "cus_4b1e9c2f7a0d3e8b5c61"
		e.EventID = "evt_0123456789abcdef0123456789"
		e.Customer = events.Customer{Email: "ann@example.com"}
		b, _ := json.Marshal(e)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas[e.Type].Validate(doc); err != nil {
			t.Errorf("%s: %v\n%s", e.Type, err, b)
		}
		seen[e.Type] = true
	}
	for _, typ := range []string{events.TypeJourneyStarted, events.TypeJourneyStageChanged, events.TypeJourneyCompleted, events.TypeJourneyAbandoned} {
		if !seen[typ] {
			t.Errorf("no %s emitted", typ)
		}
	}
}
