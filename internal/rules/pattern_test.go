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

// The operators behave as EventBridge documents them
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html),
// whether Quamina or the checks beside it evaluate them.
func TestPatternSemantics(t *testing.T) {
	cases := []struct {
		name    string
		pattern string
		match   []string // details that match
		miss    []string // details that do not
	}{
		{"exact string is case-sensitive and needs the field",
			`{detail: {state: ["running"]}}`,
			[]string{`{"state":"running"}`, `{"state":["stopped","running"]}`},
			[]string{`{"state":"Running"}`, `{}`, `{"state":{"running":1}}`}},
		{"exact number compares values",
			`{detail: {n: [6]}}`,
			[]string{`{"n":6}`, `{"n":6.0}`, `{"n":6e0}`},
			[]string{`{"n":"6"}`, `{"n":7}`}},
		{"numbers Quamina's reader refuses still match",
			`{detail: {big: [{numeric: [">", 1e20]}], n: [6]}}`,
			[]string{`{"big":1e+21,"n":6E0}`},
			[]string{`{"big":1e+19,"n":6}`}},
		{"null and empty string are values",
			`{detail: {a: [null], b: [""]}}`,
			[]string{`{"a":null,"b":""}`},
			[]string{`{"b":""}`, `{"a":null,"b":" "}`}},
		{"booleans",
			`{detail: {ok: [true]}}`,
			[]string{`{"ok":true}`},
			[]string{`{"ok":false}`, `{"ok":"true"}`}},
		{"prefix",
			`{detail: {region: [{prefix: "us-"}]}}`,
			[]string{`{"region":"us-east-1"}`, `{"region":"us-"}`},
			[]string{`{"region":"eu-west-1"}`, `{"region":"US-east-1"}`, `{"region":5}`, `{}`}},
		{"prefix ignoring case",
			`{detail: {service: [{prefix: {equals-ignore-case: "EventB"}}]}}`,
			[]string{`{"service":"eventbridge"}`, `{"service":"EVENTBRIDGE"}`},
			[]string{`{"service":"sns"}`}},
		{"suffix",
			`{detail: {file: [{suffix: ".png"}]}}`,
			[]string{`{"file":"photo.png"}`, `{"file":".png"}`},
			[]string{`{"file":"photo.PNG"}`, `{"file":"png"}`, `{"file":1}`}},
		{"suffix ignoring case",
			`{detail: {file: [{suffix: {equals-ignore-case: ".PNG"}}]}}`,
			[]string{`{"file":"photo.png"}`, `{"file":"PHOTO.Png"}`},
			[]string{`{"file":"photo.jpg"}`}},
		{"equals-ignore-case",
			`{detail: {name: [{equals-ignore-case: "alice"}]}}`,
			[]string{`{"name":"Alice"}`, `{"name":"ALICE"}`},
			[]string{`{"name":"Alicia"}`}},
		{"wildcard",
			`{detail: {path: [{wildcard: "*/lib/*.so"}]}}`,
			[]string{`{"path":"/usr/lib/libc.so"}`, `{"path":"/lib/.so"}`},
			[]string{`{"path":"/usr/bin/x.so"}`, `{"path":"/usr/lib/x.so.1"}`}},
		{"wildcard with escapes",
			`{detail: {s: [{wildcard: "a\\*b*"}]}}`,
			[]string{`{"s":"a*b"}`, `{"s":"a*bcd"}`},
			[]string{`{"s":"axb"}`, `{"s":"ab"}`}},
		{"wildcard without stars is equality",
			`{detail: {s: [{wildcard: "abc"}]}}`,
			[]string{`{"s":"abc"}`},
			[]string{`{"s":"abcd"}`}},
		{"anything-but a string needs the field",
			`{detail: {state: [{anything-but: "initializing"}]}}`,
			[]string{`{"state":"running"}`, `{"state":3}`, `{"state":["initializing","running"]}`},
			[]string{`{"state":"initializing"}`, `{}`}},
		{"anything-but a list of strings",
			`{detail: {state: [{anything-but: ["stopped", "overloaded"]}]}}`,
			[]string{`{"state":"running"}`},
			[]string{`{"state":"stopped"}`, `{"state":"overloaded"}`}},
		{"anything-but numbers",
			`{detail: {price: [{anything-but: [100, 500]}]}}`,
			[]string{`{"price":200}`, `{"price":"100"}`},
			[]string{`{"price":100}`, `{"price":500.0}`}},
		{"anything-but a prefix",
			`{detail: {region: [{anything-but: {prefix: "us-"}}]}}`,
			[]string{`{"region":"eu-west-1"}`},
			[]string{`{"region":"us-east-1"}`, `{}`}},
		{"anything-but a suffix",
			`{detail: {file: [{anything-but: {suffix: ".png"}}]}}`,
			[]string{`{"file":"a.jpg"}`},
			[]string{`{"file":"a.png"}`}},
		{"anything-but ignoring case",
			`{detail: {state: [{anything-but: {equals-ignore-case: ["Stopped", "OVERLOADED"]}}]}}`,
			[]string{`{"state":"running"}`},
			[]string{`{"state":"STOPPED"}`, `{"state":"overloaded"}`}},
		{"anything-but a wildcard",
			`{detail: {path: [{anything-but: {wildcard: "*/lib/*"}}]}}`,
			[]string{`{"path":"/usr/bin/x"}`},
			[]string{`{"path":"/usr/lib/x"}`}},
		{"numeric range",
			`{detail: {score: [{numeric: [">", 0, "<=", 5]}]}}`,
			[]string{`{"score":5}`, `{"score":0.5}`, `{"score":[9,3]}`},
			[]string{`{"score":0}`, `{"score":5.0001}`, `{"score":"3"}`, `{"score":null}`, `{}`}},
		{"numeric equality and one-sided bounds",
			`{detail: {a: [{numeric: ["=", 301.5]}], b: [{numeric: ["<", 0]}], c: [{numeric: [">=", 1e3]}]}}`,
			[]string{`{"a":3.015e2,"b":-0.1,"c":1000}`},
			[]string{`{"a":301.5,"b":0,"c":1000}`, `{"a":301.5,"b":-1,"c":999.99}`}},
		{"exists true is about leaf values",
			`{detail: {title: [{exists: true}]}}`,
			[]string{`{"title":"x"}`, `{"title":null}`, `{"title":["x"]}`},
			[]string{`{}`, `{"title":{"en":"x"}}`, `{"title":[]}`}},
		{"exists false",
			`{detail: {title: [{exists: false}]}}`,
			[]string{`{}`, `{"other":1}`, `{"title":[]}`},
			[]string{`{"title":"x"}`}},
		{"exists false beside a value is either",
			`{detail: {kind: [{exists: false}, "web"]}}`,
			[]string{`{}`, `{"kind":"web"}`},
			[]string{`{"kind":"email"}`}},
		{"cidr",
			`{detail: {ip: [{cidr: "10.0.0.0/24"}]}}`,
			[]string{`{"ip":"10.0.0.255"}`, `{"ip":"10.0.0.1"}`},
			[]string{`{"ip":"10.0.1.1"}`, `{"ip":"not an ip"}`, `{"ip":167772161}`}},
		{"a list mixes kinds of value",
			`{detail: {v: ["x", {numeric: [">", 10]}, {prefix: "ab"}]}}`,
			[]string{`{"v":"x"}`, `{"v":11}`, `{"v":"abc"}`},
			[]string{`{"v":5}`, `{"v":"y"}`}},
		{"fields are ANDed",
			`{source: ["ocx.test"], detail: {a: [1], b: [{numeric: [">", 1]}]}}`,
			[]string{`{"a":1,"b":2}`},
			[]string{`{"a":1,"b":1}`, `{"a":2,"b":2}`, `{"a":1}`}},
		{"$or",
			`{detail: {$or: [{a: [1]}, {b: [{numeric: ["<", 0]}]}]}}`,
			[]string{`{"a":1}`, `{"b":-1}`, `{"a":1,"b":-1}`},
			[]string{`{"a":2,"b":1}`, `{}`}},
		{"$or naming a path the pattern also names needs both",
			`{detail: {a: [{numeric: [">", 1]}], $or: [{a: [{numeric: ["<", 5]}]}, {b: ["x"]}]}}`,
			[]string{`{"a":3}`, `{"a":7,"b":"x"}`},
			[]string{`{"a":7}`, `{"a":0,"b":"x"}`}},
		{"arrays of objects flatten",
			`{detail: {items: {sku: [{prefix: "A-"}]}}}`,
			[]string{`{"items":[{"sku":"B-1"},{"sku":"A-2"}]}`},
			[]string{`{"items":[{"sku":"B-1"}]}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
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
					if got := len(hits) == 1; got != want.match {
						t.Errorf("%s on %s: matched %v, want %v", c.pattern, d, got, want.match)
					}
				}
			}
		})
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
