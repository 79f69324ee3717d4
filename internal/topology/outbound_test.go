// An external test package: internal/outbound imports topology, so only
// from outside may the test load the subscriptions as the stacks do.
package topology_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/ocxhq/ocx/events"
	shipped "github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/eventpattern"
	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/topology"
)

// envelope is an event as EventBridge hands it to a rule.
func envelope(t *testing.T, source, detailType string, detail map[string]any) []byte {
	t.Helper()
	if detail == nil {
		detail = map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"version": "0", "id": "e1", "source": source, "detail-type": detailType,
		"account": "123456789012", "region": "eu-west-1", "time": "2026-01-02T03:04:05Z", "resources": []string{}, "detail": detail})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func matches(t *testing.T, pattern string, env []byte) bool {
	t.Helper()
	p, err := eventpattern.Compile([]byte(pattern))
	if err != nil {
		t.Fatalf("%s: %v", pattern, err)
	}
	ok, err := p.MatchJSON(env)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func outboundRule(t *testing.T, rules []topology.BusRule) topology.BusRule {
	t.Helper()
	for _, r := range rules {
		if r.Name == topology.OutboundBusRule {
			return r
		}
	}
	t.Fatalf("no bus rule %s", topology.OutboundBusRule)
	return topology.BusRule{}
}

// With the shipped outbound.yaml the outbound function is handed the
// failure lifecycle events its one subscription wants and the replay
// commands, and no journey event.
func TestOutboundRuleFollowsShippedSubscriptions(t *testing.T) {
	subs, err := outbound.Load(shipped.Shipped, outbound.File, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) == 0 {
		t.Fatal("the shipped outbound.yaml has no subscription")
	}
	rules, err := topology.BusRulesFor(outbound.Patterns(subs))
	if err != nil {
		t.Fatal(err)
	}
	r := outboundRule(t, rules)
	if r.Target != topology.Outbound {
		t.Errorf("%s targets %s", r.Name, r.Target)
	}
	for _, c := range []struct {
		source, detailType string
		want               bool
	}{
		{events.SourceRules, events.TypeFailureDetected, true},
		{events.SourceRules, events.TypeFailureAcknowledged, true},
		{events.SourceRules, events.TypeFailureResolved, true},
		{events.SourceOutbound, events.TypeOutboundReplay, true},
		{events.SourceJourney, events.TypeJourneyStarted, false},
		{events.SourceJourney, events.TypeJourneyCompleted, false},
		{events.SourceRules, events.TypeFailureEscalated, false},
		{events.SourceIngest, "email.sent", false},
		{events.SourceOutbound, "outbound.unheard-of", false},
	} {
		if got := matches(t, r.Pattern, envelope(t, c.source, c.detailType, nil)); got != c.want {
			t.Errorf("%s on %s %s: matched %v, want %v", r.Pattern, c.source, c.detailType, got, c.want)
		}
	}

	// The other rules are the static table's.
	if len(rules) != len(topology.BusRules) {
		t.Fatalf("%d rules, want %d", len(rules), len(topology.BusRules))
	}
	for i, want := range topology.BusRules {
		if want.Name != topology.OutboundBusRule && !reflect.DeepEqual(rules[i], want) {
			t.Errorf("rule %d = %+v, want %+v", i, rules[i], want)
		}
	}
	if outboundRule(t, topology.BusRules).Pattern == r.Pattern {
		t.Error("the static table's outbound pattern was changed in place")
	}
}

// With no subscription the rule still carries out replays, and nothing else.
func TestOutboundPatternWithoutSubscriptions(t *testing.T) {
	p, err := topology.OutboundPattern(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	static := outboundRule(t, topology.BusRules).Pattern
	if json.Unmarshal([]byte(p), &got) != nil || json.Unmarshal([]byte(static), &want) != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("pattern %s, want the static table's %s", p, static)
	}
	if strings.Contains(p, "$or") {
		t.Errorf("pattern %s: a $or of one alternative", p)
	}
	if !matches(t, p, envelope(t, events.SourceOutbound, events.TypeOutboundReplay, nil)) {
		t.Errorf("%s does not match a replay command", p)
	}
	if matches(t, p, envelope(t, events.SourceRules, events.TypeFailureDetected, nil)) {
		t.Errorf("%s matches a failure nobody subscribed to", p)
	}
}

func TestOutboundPatternJoinsAlternatives(t *testing.T) {
	p, err := topology.OutboundPattern([]string{
		`{"source":["ocx.journey"],"detail":{"stage":[{"numeric":[">",1.50]}]}}`,
		// The same, written otherwise: one alternative.
		`{"detail":{"stage":[{"numeric":[">",1.50]}]},"source":["ocx.journey"]}`,
		// A pattern that is only a $or gives its alternatives.
		`{"$or":[{"source":["ocx.rules"],"detail-type":["failure.escalated"]},{"detail-type":["journey.completed"]}]}`,
		// A $or beside other fields stays one alternative.
		`{"source":["ocx.rules"],"$or":[{"detail":{"severity":["high"]}},{"detail":{"team":["billing"]}}]}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Or []json.RawMessage `json:"$or"`
	}
	if err := json.Unmarshal([]byte(p), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Or) != 5 {
		t.Errorf("%s: %d alternatives, want 5 (replay, journey stage, escalated, journey.completed, rules by severity or team)", p, len(got.Or))
	}
	if !strings.Contains(p, "1.50") {
		t.Errorf("%s: a number not kept as written", p)
	}
	for _, c := range []struct {
		source, detailType string
		detail             map[string]any
		want               bool
	}{
		{events.SourceOutbound, events.TypeOutboundReplay, nil, true},
		{events.SourceJourney, events.TypeJourneyStageChanged, map[string]any{"stage": 2}, true},
		{events.SourceJourney, events.TypeJourneyStageChanged, map[string]any{"stage": 1}, false},
		{events.SourceRules, events.TypeFailureEscalated, nil, true},
		{events.SourceJourney, events.TypeJourneyCompleted, nil, true},
		{events.SourceRules, events.TypeFailureDetected, map[string]any{"team": "billing"}, true},
		{events.SourceRules, events.TypeFailureDetected, map[string]any{"team": "support"}, false},
		{events.SourceIngest, "email.sent", nil, false},
	} {
		if m := matches(t, p, envelope(t, c.source, c.detailType, c.detail)); m != c.want {
			t.Errorf("%s on %s %s %v: matched %v, want %v", p, c.source, c.detailType, c.detail, m, c.want)
		}
	}
}

func TestOutboundPatternRefuses(t *testing.T) {
	for name, patterns := range map[string][]string{
		"not JSON":      {`{"source":`},
		"not a pattern": {`{"source":"ocx.rules"}`},
		// Some 4000 characters, over EventBridge's 2048.
		"too long": {`{"source":["ocx.rules"],"detail-type":[` + strings.Repeat(`"failure.some-kind-or-other",`, 140) + `"failure.last"]}`},
	} {
		if p, err := topology.OutboundPattern(patterns); err == nil {
			t.Errorf("%s: accepted as %s", name, p)
		}
		if _, err := topology.BusRulesFor(patterns); err == nil {
			t.Errorf("%s: bus rules built", name)
		}
	}
}
