package eventpattern

import (
	"encoding/json"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// yamlPattern compiles a pattern written as a rule file writes it (YAML
// flow style).
func yamlPattern(t *testing.T, src string) *Pattern {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("pattern %s: %v", src, err)
	}
	p, problems := CompileYAML(doc.Content[0])
	if len(problems) > 0 {
		t.Fatalf("pattern %s: %v", src, problems)
	}
	return p
}

// The operators' finer points, on patterns written in YAML.
func TestSemantics(t *testing.T) {
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
		{"numbers in any notation",
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
		{"arrays of objects: any element",
			`{detail: {items: {sku: [{prefix: "A-"}]}}}`,
			[]string{`{"items":[{"sku":"B-1"},{"sku":"A-2"}]}`, `{"items":[[{"sku":"A-2"}]]}`},
			[]string{`{"items":[{"sku":"B-1"}]}`, `{"items":[]}`}},
		{"arrays of objects: the fields of one element",
			`{detail: {items: {sku: ["A-1"], qty: [{numeric: [">", 1]}]}}}`,
			[]string{`{"items":[{"sku":"B-1","qty":5},{"sku":"A-1","qty":2}]}`},
			[]string{`{"items":[{"sku":"A-1","qty":1},{"sku":"B-1","qty":5}]}`}},
		{"a nested pattern on a scalar or a missing object sees no fields",
			`{detail: {a: {b: [{exists: false}]}}}`,
			[]string{`{"a":5}`, `{}`, `{"a":{"c":1}}`},
			[]string{`{"a":{"b":1}}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := yamlPattern(t, c.pattern)
			for _, want := range []struct {
				details []string
				match   bool
			}{{c.match, true}, {c.miss, false}} {
				for _, d := range want.details {
					ev := `{"source":"ocx.test","detail-type":"thing.happened","detail":` + d + `}`
					got, err := p.MatchJSON([]byte(ev))
					if err != nil {
						t.Fatal(err)
					}
					if got != want.match {
						t.Errorf("%s on %s: matched %v, want %v", c.pattern, d, got, want.match)
					}
				}
			}
		})
	}
}

// YAML and JSON patterns are refused alike, YAML's with the node.
func TestProblems(t *testing.T) {
	cases := []struct{ pattern, want string }{
		{`{"detail": {"a": "x"}}`, `detail.a: a value must be a list`},
		{`{"detail": {"a": [{"numeric": [">", 1, ">", 2]}]}}`, `a range is a lower bound (> or >=) then an upper bound`},
		{`{"detail": {"a": [{"numeric": [">", 2, "<", 1]}]}}`, `the range's lower bound 2 is above its upper bound 1`},
		{`{"detail": {"a": [{"numeric": ["~", 1]}]}}`, `numeric: unknown operator "~"`},
		{`{"detail": {"a": [{"numeric": ["<", "1"]}]}}`, `numeric: "1" is not a number`},
		{`{"detail": {"a": [{"numeric": ["<"]}]}}`, `numeric takes [op, number]`},
		{`{"detail": {"a": [{"prefix": 1}]}}`, `prefix takes a string or {equals-ignore-case: string}`},
		{`{"detail": {"a": [{"exists": "yes"}]}}`, `exists takes true or false`},
		{`{"detail": {"a": [{"cidr": "10.0.0.0/33"}]}}`, `cidr "10.0.0.0/33"`},
		{`{"detail": {"a": [{"wildcard": "a\\b"}]}}`, `a backslash must escape * or \`},
		{`{"detail": {"a": [{"wildcard": "a**"}]}}`, `consecutive * are not allowed`},
		{`{"detail": {"a": [{"anything-but": {"prefix": ["a", "b"]}}]}}`, `anything-but prefix takes one string`},
		{`{"detail": {"a": [{"anything-but": []}]}}`, `anything-but: the list is empty`},
		{`{"detail": {"a": [{"anything-but": ["a", 1]}]}}`, `a list must hold only strings or only numbers`},
		{`{"detail": {"a": [{"prefix": "x", "suffix": "y"}]}}`, `an operator is a mapping with exactly one key`},
		{`{"detail": {"a": [{"contains": "x"}]}}`, `unknown operator "contains"`},
		{`{"detail": {"a": [[1]]}}`, `a list holds values or {operator: ...} mappings, not lists`},
		{`{"detail": {"a": []}}`, `detail.a: an empty list matches nothing`},
		{`{"detail": {}}`, `detail: an empty mapping matches nothing`},
		{`{"$or": [{"a": [1]}]}`, `$or takes a list of at least two patterns`},
		{`{"$or": [{"a": [1]}, {}]}`, `each $or alternative must be a non-empty mapping`},
		{`[]`, `a pattern must be a non-empty mapping`},
		{`{}`, `a pattern must be a non-empty mapping`},
	}
	for _, c := range cases {
		if _, err := Compile([]byte(c.pattern)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("JSON %s: error %v, want %s", c.pattern, err, c.want)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("\n"+c.pattern), &doc); err != nil {
			t.Fatal(err)
		}
		_, ps := CompileYAML(doc.Content[0])
		if len(ps) == 0 || !strings.Contains(ps[0].Msg, c.want) || ps[0].Node == nil || ps[0].Node.Line != 2 {
			t.Errorf("YAML %s: problems %v, want %s on line 2", c.pattern, ps, c.want)
		}
	}
	if _, err := Compile([]byte(`{"a": [1]} x`)); err == nil {
		t.Error("trailing text after a JSON pattern was accepted")
	}
}

// The index finds what trying every pattern finds, in the order added.
func TestIndexMatchesLikeAScan(t *testing.T) {
	patterns := []string{
		`{"detail-type":["a","b"]}`,
		`{"source":["s1"],"detail":{"n":[{"numeric":[">",1]}]}}`,
		`{"$or":[{"detail-type":["b"]},{"detail-type":["c"]}]}`,
		`{"detail-type":[{"prefix":"a"}]}`,
		`{"detail":{"x":[{"exists":false}]}}`,
		`{"source":["s1","s2"],"detail-type":["a","a"]}`,
		`{"$or":[{"detail-type":["b"]},{"source":["s2"]}]}`,
	}
	var ix Index[int]
	var ps []*Pattern
	for i, s := range patterns {
		p := MustCompile(s)
		ps = append(ps, p)
		ix.Add(p, i)
	}
	events := []string{
		`{"source":"s1","detail-type":"a","detail":{"n":2}}`,
		`{"source":"s2","detail-type":"b","detail":{"x":1}}`,
		`{"source":"s3","detail-type":"c","detail":{}}`,
		`{"source":"s1","detail-type":"ab"}`,
		`{"source":["s2"],"detail-type":["a","c"]}`,
		`{"detail":{"n":5}}`,
		`[1]`,
	}
	for _, e := range events {
		var doc any
		if err := json.Unmarshal([]byte(e), &doc); err != nil {
			t.Fatal(err)
		}
		var want []int
		for i, p := range ps {
			if p.Match(doc) {
				want = append(want, i)
			}
		}
		got := ix.Match(doc)
		if len(got) != len(want) {
			t.Errorf("%s: index found %v, a scan %v", e, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: index found %v, a scan %v", e, got, want)
				break
			}
		}
	}
}
