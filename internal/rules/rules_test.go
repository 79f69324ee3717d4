package rules

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"go.yaml.in/yaml/v3"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/team"
)

func shippedTeams(t *testing.T) []string {
	t.Helper()
	reg, err := team.Load(config.Shipped, "teams.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tm := range reg.All() {
		ids = append(ids, tm.ID)
	}
	return ids
}

func shippedRules(t *testing.T) []Rule {
	t.Helper()
	rs, err := Load(config.Shipped, "rules", shippedTeams(t))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestShippedRulesLoad(t *testing.T) {
	rs := shippedRules(t)
	want := []string{"ces.high_effort", "contact.channel_hop", "contact.repeat", "csat.low", "email.bounce_rate", "email.bounced",
		"intake.channel_silent", "intake.quarantine_spike", "intake.signature_rejected", "intake.unavailable", "journey.stalled", "nps.detractor", "order.undelivered", "order.unfulfilled", "payment.failed_twice", "sms.undelivered", "ticket.first_response"}
	var got []string
	for _, r := range rs {
		got = append(got, r.ID)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("shipped rules %v, want %v", got, want)
	}
	if _, err := NewEngine(rs); err != nil {
		t.Fatal(err)
	}
}

// The shipped rule pack's unit tests (infra/config/rules/tests) pass, so
// `make test` runs them as `ocx rules test` does.
func TestShippedRuleTests(t *testing.T) {
	files, err := TestFiles(config.Shipped, "rules/tests")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no shipped rule tests")
	}
	results, err := RunTestFiles(context.Background(), config.Shipped, files, shippedRules(t))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, r := range results {
		t.Run(r.Name, func(t *testing.T) {
			for _, p := range r.Problems {
				t.Errorf("%s:%d: %s", r.File, r.Line, p)
			}
		})
	}
	// Every shipped rule has a test that expects it to fire.
	for _, f := range files {
		b, _ := config.Shipped.ReadFile(f)
		var tf TestFile
		if err := yaml.Unmarshal(b, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range tf.Tests {
			for _, e := range tc.Expect {
				covered[e.Rule] = true
			}
		}
	}
	for _, r := range shippedRules(t) {
		if !covered[r.ID] {
			t.Errorf("no shipped test expects a failure of %s", r.ID)
		}
	}
}

func TestLoadReportsFileAndLine(t *testing.T) {
	fsys := fstest.MapFS{"rules/bad.yaml": {Data: []byte(`rules:
  - id: a
    kind: match
    description: fine
    severity: warning
    team: cx
    pattern: {"source": ["x"]}
  - id: a
    kind: sequential
    description: dup and unknown kind
    severity: loud
    team: nobody
    pattern: {"source": "not-a-list"}
  - id: b
    kind: match
    description: bad operators
    severity: info
    team: cx
    treshold: 3
    pattern:
      detail:
        score: [{numeric: ["<", "five"]}]
        name: [{wildcard: "a**b"}]
        other: [{contains: "x"}]
        list: [{anything-but: ["a", 1]}]
        range: [{numeric: [">", 9, "<", 1]}]
        empty: []
  - id: c
    kind: count
    description: count without its fields
    severity: info
    team: cx
    threshold: 1
    pattern: {detail-type: [x]}
  - id: d
    kind: rate
    description: rate with a percent
    severity: info
    team: cx
    window: 90s
    threshold: 5
    cooldown: soon
    pattern: {detail-type: [x]}
    of: {detail-type: [y]}
  - id: e
    kind: absence
    description: absence without a deadline
    severity: info
    team: cx
    key: "detail..x"
    pattern: {detail-type: [x]}
    until: {$or: [{detail-type: [y]}]}
`)}}
	_, err := Load(fsys, "rules", []string{"cx"})
	if err == nil {
		t.Fatal("bad rules loaded")
	}
	for _, want := range []string{
		`rules/bad.yaml:9: rule "a": unknown kind "sequential"`,
		`rules/bad.yaml:8: rule id "a" already defined at rules/bad.yaml:2`,
		`rules/bad.yaml:19: rule "b": a match rule has no field "treshold"`,
		`rules/bad.yaml:22: rule "b": pattern: detail.score: numeric: "five" is not a number`,
		`rules/bad.yaml:23: rule "b": pattern: detail.name: wildcard "a**b": consecutive * are not allowed`,
		`rules/bad.yaml:24: rule "b": pattern: detail.other: unknown operator "contains"`,
		`rules/bad.yaml:25: rule "b": pattern: detail.list: anything-but: a list must hold only strings or only numbers`,
		`rules/bad.yaml:26: rule "b": pattern: detail.range: numeric: the range's lower bound 9 is above its upper bound 1`,
		`rules/bad.yaml:27: rule "b": pattern: detail.empty: an empty list matches nothing`,
		`rules/bad.yaml:28: rule "c": a count rule needs a window`,
		`rules/bad.yaml:33: rule "c": threshold must be a whole number of events, at least 2`,
		`rules/bad.yaml:40: rule "d": a rate window is counted in whole minutes`,
		`rules/bad.yaml:41: rule "d": threshold is the ratio above which the rule fails`,
		`rules/bad.yaml:42: rule "d": cooldown "soon"`,
		`rules/bad.yaml:45: rule "e": an absence rule needs within, due or both`,
		`rules/bad.yaml:50: rule "e": key "detail..x"`,
		`rules/bad.yaml:52: rule "e": until: $or takes a list of at least two patterns`,
		`rules/bad.yaml:11: rule "a": severity "loud"`,
		`rules/bad.yaml:12: rule "a": unknown team "nobody"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
