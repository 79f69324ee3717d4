package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ocxhq/ocx/events"
)

// engineFor compiles one match rule with the given pattern (YAML flow
// style, the way a rule file writes it).
func engineFor(t *testing.T, pattern string) *Engine {
	t.Helper()
	fsys := fstest.MapFS{"rules/r.yaml": {Data: []byte("rules:\n  - id: r\n    kind: match\n    description: d\n    severity: info\n    team: t\n    pattern: " + pattern + "\n")}}
	rs, err := Load(fsys, "rules", []string{"t"})
	if err != nil {
		t.Fatalf("pattern %s: %v", pattern, err)
	}
	eng, err := NewEngine(rs)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func envelopeWith(t *testing.T, detail string) events.Envelope {
	t.Helper()
	if !json.Valid([]byte(detail)) {
		t.Fatalf("detail %s is not JSON", detail)
	}
	return events.Envelope{ID: "e1", Source: "ocx.test", DetailType: "thing.happened",
		Time: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), Resources: []string{}, Detail: json.RawMessage(detail)}
}

// A rule's pattern reaches the engine as written: the operators' own
// semantics are tested in package eventpattern, with EventBridge's
// documented examples.
func TestEngineMatchesRulePatterns(t *testing.T) {
	cases := []struct {
		pattern string
		match   []string // details that match
		miss    []string // details that do not
	}{
		{`{detail: {n: [6], big: [{numeric: [">", 1e20]}]}}`,
			[]string{`{"n":6E0,"big":1e+21}`},
			[]string{`{"n":6,"big":1e+19}`, `{"n":"6","big":1e+21}`}},
		{`{detail-type: ["thing.happened"], detail: {state: [{anything-but: ["stopped", "overloaded"]}]}}`,
			[]string{`{"state":"running"}`},
			[]string{`{"state":"stopped"}`, `{}`}},
		{`{detail-type: ["other"], detail: {state: ["running"]}}`,
			nil,
			[]string{`{"state":"running"}`}},
		{`{$or: [{detail-type: ["other"]}, {detail: {a: [{exists: true}]}}]}`,
			[]string{`{"a":1}`},
			[]string{`{"b":1}`}},
		{`{source: [{prefix: "ocx."}], detail: {items: {sku: [{suffix: "-1"}]}}}`,
			[]string{`{"items":[{"sku":"B-2"},{"sku":"A-1"}]}`},
			[]string{`{"items":[{"sku":"B-2"}]}`}},
	}
	for _, c := range cases {
		eng := engineFor(t, c.pattern)
		for _, want := range []struct {
			details []string
			match   bool
		}{{c.match, true}, {c.miss, false}} {
			for _, d := range want.details {
				hits, err := eng.MatchEnvelope(envelopeWith(t, d))
				if err != nil {
					t.Fatal(err)
				}
				if got := len(hits) == 1 && hits[0].Roles["pattern"]; got != want.match {
					t.Errorf("%s on %s: matched %v (%v), want %v", c.pattern, d, got, hits, want.match)
				}
			}
		}
	}
}

// Patterns EventBridge would refuse are refused at load, with the line.
func TestPatternErrors(t *testing.T) {
	cases := []struct{ pattern, want string }{
		{`{detail: {a: "x"}}`, `detail.a: a value must be a list`},
		{`{detail: {a: [{numeric: [">", 1, ">", 2]}]}}`, `a range is a lower bound (> or >=) then an upper bound`},
		{`{detail: {a: [{numeric: ["~", 1]}]}}`, `numeric: unknown operator "~"`},
		{`{detail: {a: [{numeric: ["<"]}]}}`, `numeric takes [op, number]`},
		{`{detail: {a: [{prefix: 1}]}}`, `prefix takes a string or {equals-ignore-case: string}`},
		{`{detail: {a: [{exists: "yes"}]}}`, `exists takes true or false`},
		{`{detail: {a: [{cidr: "10.0.0.0/33"}]}}`, `cidr "10.0.0.0/33"`},
		{`{detail: {a: [{wildcard: "a\\b"}]}}`, `a backslash must escape * or \`},
		{`{detail: {a: [{anything-but: {prefix: ["a", "b"]}}]}}`, `anything-but prefix takes one string`},
		{`{detail: {a: [{anything-but: []}]}}`, `anything-but: the list is empty`},
		{`{detail: {a: [{prefix: "x", suffix: "y"}]}}`, `an operator is a mapping with exactly one key`},
		{`{detail: {a: [[1]]}}`, `a list holds values or {operator: ...} mappings, not lists`},
		{`{detail: {}}`, `detail: an empty mapping matches nothing`},
		{`[]`, `a pattern must be a non-empty mapping`},
	}
	for _, c := range cases {
		fsys := fstest.MapFS{"rules/r.yaml": {Data: []byte("rules:\n  - id: r\n    kind: match\n    description: d\n    severity: info\n    team: t\n    pattern: " + c.pattern + "\n")}}
		_, err := Load(fsys, "rules", []string{"t"})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "rules/r.yaml:7:") {
			t.Errorf("%s: error %v, want rules/r.yaml:7: ... %s", c.pattern, err, c.want)
		}
	}
}
