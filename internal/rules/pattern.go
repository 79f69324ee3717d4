package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A rule's event patterns use EventBridge's syntax and semantics
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html):
// exact strings, numbers, booleans and null; prefix and suffix (optionally
// ignoring case); equals-ignore-case; wildcard; anything-but (a value, a
// list, or a prefix, suffix, equals-ignore-case or wildcard); numeric
// comparisons and ranges; exists; cidr; and $or.
//
// Quamina, which does the bulk of the matching, implements only part of
// this (no numeric ranges, suffix, cidr, wildcard escapes, anything-but on
// numbers or on a prefix, or $or). So each pattern is compiled into
// variants: $or and lists that mix kinds of value are split so that every
// field of a variant is either wholly for Quamina or wholly checked here,
// on the decoded event, after Quamina has matched the rest.

// compiled is one pattern: it matches an event when any variant does.
type compiled struct {
	variants []variant
}

// variant is a conjunction: Quamina's pattern (empty when no field suits
// Quamina) and the fields checked in Go.
type variant struct {
	quamina string
	checks  []fieldCheck
}

// fieldCheck holds when any value at path satisfies any matcher.
type fieldCheck struct {
	path []string
	any  []matcher
}

func (c fieldCheck) holds(doc any) bool {
	vals := leaves(doc, c.path)
	for _, m := range c.any {
		if e, ok := m.(exists); ok {
			if (len(vals) > 0) == e.want {
				return true
			}
			continue
		}
		for _, v := range vals {
			if m.match(v) {
				return true
			}
		}
	}
	return false
}

// matcher tests one leaf value of an event.
type matcher interface{ match(v any) bool }

// field is one path of a pattern with the values its list holds.
type field struct {
	path  []string
	elems []elem
}

// elem is one value of a pattern list.
type elem struct {
	// raw is the value as Quamina takes it, when forQuamina.
	raw        any
	forQuamina bool
	// alone is true for values Quamina accepts only as the sole member of a
	// list (exists, anything-but).
	alone bool
	m     matcher
}

// patternProblem is a pattern error at a node.
type patternProblem struct {
	node *yaml.Node
	msg  string
}

// compilePattern checks a pattern written as YAML and compiles it. Every
// problem found is returned with its node for file:line reporting.
func compilePattern(n *yaml.Node) (compiled, []patternProblem) {
	var ps []patternProblem
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return compiled{}, []patternProblem{{n, "a pattern must be a non-empty mapping of event fields"}}
	}
	conjs := walkPattern(n, nil, &ps)
	if len(ps) > 0 {
		return compiled{}, ps
	}
	var c compiled
	for _, conj := range conjs {
		for _, v := range splitVariants(conj) {
			c.variants = append(c.variants, v)
		}
	}
	return c, nil
}

// walkPattern turns a mapping into its disjunctive normal form: a list of
// conjunctions of fields, $or multiplying them out.
func walkPattern(n *yaml.Node, path []string, ps *[]patternProblem) [][]field {
	conjs := [][]field{nil}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if name == "$or" {
			if v.Kind != yaml.SequenceNode || len(v.Content) < 2 {
				*ps = append(*ps, patternProblem{v, "$or takes a list of at least two patterns"})
				continue
			}
			var alts [][]field
			for _, alt := range v.Content {
				if alt.Kind != yaml.MappingNode || len(alt.Content) == 0 {
					*ps = append(*ps, patternProblem{alt, "each $or alternative must be a non-empty mapping"})
					continue
				}
				alts = append(alts, walkPattern(alt, path, ps)...)
			}
			conjs = product(conjs, alts)
			continue
		}
		p := append(append([]string(nil), path...), name)
		switch v.Kind {
		case yaml.MappingNode:
			if len(v.Content) == 0 {
				*ps = append(*ps, patternProblem{v, fmt.Sprintf("%s: an empty mapping matches nothing", strings.Join(p, "."))})
				continue
			}
			conjs = product(conjs, walkPattern(v, p, ps))
		case yaml.SequenceNode:
			f, ok := readList(v, p, ps)
			if ok {
				conjs = product(conjs, [][]field{{f}})
			}
		default:
			*ps = append(*ps, patternProblem{v, fmt.Sprintf("%s: a value must be a list, e.g. [%s]", strings.Join(p, "."), v.Value)})
		}
	}
	return conjs
}

func product(a, b [][]field) [][]field {
	var out [][]field
	for _, x := range a {
		for _, y := range b {
			out = append(out, append(append([]field(nil), x...), y...))
		}
	}
	return out
}

func readList(n *yaml.Node, path []string, ps *[]patternProblem) (field, bool) {
	where := strings.Join(path, ".")
	if len(n.Content) == 0 {
		*ps = append(*ps, patternProblem{n, where + ": an empty list matches nothing"})
		return field{}, false
	}
	f := field{path: path}
	ok := true
	for _, item := range n.Content {
		e, err := readElem(item)
		if err != "" {
			*ps = append(*ps, patternProblem{item, where + ": " + err})
			ok = false
			continue
		}
		f.elems = append(f.elems, e)
	}
	return f, ok
}

// scalar decodes a YAML scalar into string, float64, bool or nil.
func scalar(n *yaml.Node) (any, bool) {
	if n.Kind != yaml.ScalarNode {
		return nil, false
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, false
	}
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, false
		}
	}
	return v, true
}

func readElem(n *yaml.Node) (elem, string) {
	switch n.Kind {
	case yaml.ScalarNode:
		v, ok := scalar(n)
		if !ok {
			return elem{}, fmt.Sprintf("%q is not a JSON value", n.Value)
		}
		return elem{raw: v, forQuamina: true, m: exact{v}}, ""
	case yaml.MappingNode:
		if len(n.Content) != 2 {
			return elem{}, "an operator is a mapping with exactly one key, e.g. {prefix: \"us-\"}"
		}
		return readOperator(n.Content[0].Value, n.Content[1])
	default:
		return elem{}, "a list holds values or {operator: ...} mappings, not lists"
	}
}

func readOperator(op string, v *yaml.Node) (elem, string) {
	str := func() (string, bool) {
		x, ok := scalar(v)
		s, isStr := x.(string)
		return s, ok && isStr
	}
	switch op {
	case "prefix", "suffix":
		if s, ok := str(); ok {
			if op == "prefix" {
				return elem{raw: map[string]any{"prefix": s}, forQuamina: true, m: prefix{s: s}}, ""
			}
			return elem{m: suffix{s: s}}, ""
		}
		if s, ok := ignoreCase(v); ok {
			if op == "prefix" {
				return elem{m: prefix{s: strings.ToLower(s), fold: true}}, ""
			}
			return elem{m: suffix{s: strings.ToLower(s), fold: true}}, ""
		}
		return elem{}, op + " takes a string or {equals-ignore-case: string}"
	case "equals-ignore-case":
		if s, ok := str(); ok {
			return elem{raw: map[string]any{op: s}, forQuamina: true, m: foldEqual{strings.ToLower(s)}}, ""
		}
		return elem{}, "equals-ignore-case takes a string"
	case "wildcard":
		s, ok := str()
		if !ok {
			return elem{}, "wildcard takes a string"
		}
		w, err := compileWildcard(s)
		if err != "" {
			return elem{}, err
		}
		return elem{m: w}, ""
	case "exists":
		x, ok := scalar(v)
		b, isBool := x.(bool)
		if !ok || !isBool {
			return elem{}, "exists takes true or false"
		}
		return elem{raw: map[string]any{"exists": b}, forQuamina: true, alone: true, m: exists{b}}, ""
	case "numeric":
		m, err := readNumeric(v)
		if err != "" {
			return elem{}, err
		}
		return elem{m: m}, ""
	case "cidr":
		s, ok := str()
		if !ok {
			return elem{}, "cidr takes a string such as 10.0.0.0/24"
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return elem{}, fmt.Sprintf("cidr %q: %v", s, err)
		}
		return elem{m: cidr{p.Masked()}}, ""
	case "anything-but":
		return readAnythingBut(v)
	default:
		return elem{}, fmt.Sprintf("unknown operator %q (EventBridge has prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists, cidr)", op)
	}
}

func ignoreCase(v *yaml.Node) (string, bool) {
	if v.Kind != yaml.MappingNode || len(v.Content) != 2 || v.Content[0].Value != "equals-ignore-case" {
		return "", false
	}
	x, ok := scalar(v.Content[1])
	s, isStr := x.(string)
	return s, ok && isStr
}

func readAnythingBut(v *yaml.Node) (elem, string) {
	const usage = "anything-but takes a string, a number, a list of strings or of numbers, or {prefix|suffix|equals-ignore-case|wildcard: ...}"
	switch v.Kind {
	case yaml.ScalarNode:
		x, _ := scalar(v)
		switch x.(type) {
		case string:
			return elem{raw: map[string]any{"anything-but": []any{x}}, forQuamina: true, alone: true, m: not{[]matcher{exact{x}}}}, ""
		case float64:
			return elem{m: not{[]matcher{exact{x}}}}, ""
		}
		return elem{}, usage
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			return elem{}, "anything-but: the list is empty"
		}
		var ms []matcher
		var strs []any
		kind := ""
		for _, it := range v.Content {
			x, ok := scalar(it)
			k := fmt.Sprintf("%T", x)
			if !ok || (k != "string" && k != "float64") || (kind != "" && k != kind) {
				return elem{}, "anything-but: a list must hold only strings or only numbers"
			}
			kind = k
			ms = append(ms, exact{x})
			strs = append(strs, x)
		}
		if kind == "string" {
			return elem{raw: map[string]any{"anything-but": strs}, forQuamina: true, alone: true, m: not{ms}}, ""
		}
		return elem{m: not{ms}}, ""
	case yaml.MappingNode:
		if len(v.Content) != 2 {
			return elem{}, usage
		}
		op, arg := v.Content[0].Value, v.Content[1]
		var args []string
		switch arg.Kind {
		case yaml.ScalarNode:
			x, _ := scalar(arg)
			s, ok := x.(string)
			if !ok {
				return elem{}, "anything-but " + op + " takes a string"
			}
			args = []string{s}
		case yaml.SequenceNode:
			if op != "equals-ignore-case" && op != "wildcard" {
				return elem{}, "anything-but " + op + " takes one string"
			}
			for _, it := range arg.Content {
				x, _ := scalar(it)
				s, ok := x.(string)
				if !ok {
					return elem{}, "anything-but " + op + ": a list must hold strings"
				}
				args = append(args, s)
			}
			if len(args) == 0 {
				return elem{}, "anything-but " + op + ": the list is empty"
			}
		default:
			return elem{}, usage
		}
		var ms []matcher
		for _, s := range args {
			switch op {
			case "prefix":
				ms = append(ms, prefix{s: s})
			case "suffix":
				ms = append(ms, suffix{s: s})
			case "equals-ignore-case":
				ms = append(ms, foldEqual{strings.ToLower(s)})
			case "wildcard":
				w, err := compileWildcard(s)
				if err != "" {
					return elem{}, "anything-but " + err
				}
				ms = append(ms, w)
			default:
				return elem{}, usage
			}
		}
		return elem{m: not{ms}}, ""
	}
	return elem{}, usage
}

// splitVariants turns one conjunction into variants whose fields are each
// wholly for Quamina or wholly for Go, splitting lists that mix the two (a
// list is a disjunction, so splitting it keeps the meaning).
func splitVariants(conj []field) []variant {
	type part struct {
		path       []string
		forQuamina bool
		elems      []elem
	}
	options := make([][]part, len(conj))
	for i, f := range conj {
		var shared, goSide []elem
		for _, e := range f.elems {
			switch {
			case e.forQuamina && e.alone:
				options[i] = append(options[i], part{f.path, true, []elem{e}})
			case e.forQuamina:
				shared = append(shared, e)
			default:
				goSide = append(goSide, e)
			}
		}
		if len(shared) > 0 {
			options[i] = append(options[i], part{f.path, true, shared})
		}
		if len(goSide) > 0 {
			options[i] = append(options[i], part{f.path, false, goSide})
		}
	}
	combos := [][]part{nil}
	for _, opts := range options {
		var next [][]part
		for _, c := range combos {
			for _, o := range opts {
				next = append(next, append(append([]part(nil), c...), o))
			}
		}
		combos = next
	}
	out := make([]variant, 0, len(combos))
	for _, c := range combos {
		var v variant
		tree := map[string]any{}
		for _, p := range c {
			if p.forQuamina {
				vals := make([]any, len(p.elems))
				for i, e := range p.elems {
					vals[i] = e.raw
				}
				if put(tree, p.path, vals) {
					continue
				}
			}
			fc := fieldCheck{path: p.path}
			for _, e := range p.elems {
				fc.any = append(fc.any, e.m)
			}
			v.checks = append(v.checks, fc)
		}
		if len(tree) > 0 {
			b, _ := json.Marshal(tree)
			v.quamina = string(b)
		}
		out = append(out, v)
	}
	return out
}

// put sets tree[path...] = vals. It reports false when the path is already
// taken: the same path twice in one conjunction (from $or) means both lists
// must hold, which one Quamina field cannot say.
func put(tree map[string]any, path []string, vals []any) bool {
	for _, seg := range path[:len(path)-1] {
		sub, ok := tree[seg].(map[string]any)
		if !ok {
			if _, taken := tree[seg]; taken {
				return false
			}
			sub = map[string]any{}
			tree[seg] = sub
		}
		tree = sub
	}
	last := path[len(path)-1]
	if _, taken := tree[last]; taken {
		return false
	}
	tree[last] = vals
	return true
}

// leaves returns the leaf values at path in a decoded JSON document. As in
// EventBridge, arrays anywhere along the path are flattened, and objects
// are not leaves.
func leaves(doc any, path []string) []any {
	switch x := doc.(type) {
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, leaves(e, path)...)
		}
		return out
	case map[string]any:
		if len(path) == 0 {
			return nil
		}
		v, ok := x[path[0]]
		if !ok {
			return nil
		}
		return leaves(v, path[1:])
	default:
		if len(path) > 0 {
			return nil
		}
		return []any{x}
	}
}

type exact struct{ v any }

func (e exact) match(v any) bool { return v == e.v }

type prefix struct {
	s    string
	fold bool
}

func (p prefix) match(v any) bool {
	s, ok := v.(string)
	if p.fold {
		s = strings.ToLower(s)
	}
	return ok && strings.HasPrefix(s, p.s)
}

type suffix struct {
	s    string
	fold bool
}

func (p suffix) match(v any) bool {
	s, ok := v.(string)
	if p.fold {
		s = strings.ToLower(s)
	}
	return ok && strings.HasSuffix(s, p.s)
}

type foldEqual struct{ lower string }

func (f foldEqual) match(v any) bool {
	s, ok := v.(string)
	return ok && strings.ToLower(s) == f.lower
}

// exists tests the presence of a field; fieldCheck.holds decides it, since
// it is about the field rather than any one value.
type exists struct{ want bool }

func (e exists) match(any) bool { return false }

// not is anything-but: a present value none of the matchers accept.
type not struct{ of []matcher }

func (n not) match(v any) bool {
	for _, m := range n.of {
		if m.match(v) {
			return false
		}
	}
	return true
}

type cidr struct{ p netip.Prefix }

func (c cidr) match(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(s)
	return err == nil && c.p.Contains(a)
}

// numeric holds one or two comparisons, all of which must hold.
type numeric []comparison

type comparison struct {
	op string
	n  float64
}

func (c numeric) match(v any) bool {
	f, ok := v.(float64)
	if !ok {
		return false
	}
	for _, cmp := range c {
		var holds bool
		switch cmp.op {
		case "<":
			holds = f < cmp.n
		case "<=":
			holds = f <= cmp.n
		case "=":
			holds = f == cmp.n
		case ">=":
			holds = f >= cmp.n
		case ">":
			holds = f > cmp.n
		}
		if !holds {
			return false
		}
	}
	return true
}

func readNumeric(v *yaml.Node) (numeric, string) {
	const usage = `numeric takes [op, number] or a range [">" or ">=", number, "<" or "<=", number]; op is one of < <= = >= >`
	if v.Kind != yaml.SequenceNode || (len(v.Content) != 2 && len(v.Content) != 4) {
		return nil, usage
	}
	var out numeric
	for i := 0; i < len(v.Content); i += 2 {
		opv, _ := scalar(v.Content[i])
		op, _ := opv.(string)
		nv, _ := scalar(v.Content[i+1])
		n, isNum := nv.(float64)
		switch op {
		case "<", "<=", "=", ">=", ">":
		default:
			return nil, fmt.Sprintf("numeric: unknown operator %q; %s", v.Content[i].Value, usage)
		}
		if !isNum {
			return nil, fmt.Sprintf("numeric: %q is not a number", v.Content[i+1].Value)
		}
		out = append(out, comparison{op, n})
	}
	if len(out) == 2 {
		lo, hi := out[0], out[1]
		if (lo.op != ">" && lo.op != ">=") || (hi.op != "<" && hi.op != "<=") {
			return nil, "numeric: a range is a lower bound (> or >=) then an upper bound (< or <=)"
		}
		if lo.n > hi.n {
			return nil, fmt.Sprintf("numeric: the range's lower bound %v is above its upper bound %v", lo.n, hi.n)
		}
	}
	return out, ""
}

// wildcard matches strings against a pattern where * stands for any run of
// characters; \* is a literal star and \\ a literal backslash.
type wildcard struct {
	// parts are the literal runs between stars; the pattern starts or ends
	// with a star when the first or last part is empty.
	parts []string
}

func compileWildcard(s string) (wildcard, string) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return wildcard{}, fmt.Sprintf("wildcard %q: a backslash must escape * or \\", s)
			}
			i++
			cur.WriteByte(s[i])
		case '*':
			if i+1 < len(s) && s[i+1] == '*' {
				return wildcard{}, fmt.Sprintf("wildcard %q: consecutive * are not allowed", s)
			}
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	return wildcard{parts}, ""
}

func (w wildcard) match(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	if len(w.parts) == 1 {
		return s == w.parts[0]
	}
	first, last := w.parts[0], w.parts[len(w.parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	// Greedy leftmost placement of the middle parts is optimal: each is
	// placed as early as possible, leaving the most room for the rest.
	rest := s[len(first) : len(s)-len(last)]
	for _, p := range w.parts[1 : len(w.parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return true
}
