// Package eventpattern compiles Amazon EventBridge event patterns and
// matches events against them, with EventBridge's documented semantics
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html):
// exact strings, numbers, booleans and null; prefix and suffix (optionally
// ignoring case); equals-ignore-case; wildcard; anything-but (a value, a
// list, or a prefix, suffix, equals-ignore-case or wildcard); numeric
// comparisons and ranges; exists; cidr; and $or.
//
// Rules, journeys and the local stack's bus all match with it, so a pattern
// means the same wherever it is written, and the same as in AWS.
package eventpattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pattern is a compiled event pattern. It is immutable and safe for
// concurrent use.
type Pattern struct {
	root *object
}

// Problem is one thing wrong in a pattern. Node is where it is when the
// pattern was read from YAML, for file:line reporting; nil for JSON.
type Problem struct {
	Node *yaml.Node
	Msg  string
}

func (p Problem) Error() string { return p.Msg }

// Compile reads a pattern written as JSON, as EventBridge takes it. The
// error lists every problem found, one a line.
func Compile(pattern []byte) (*Pattern, error) {
	d := json.NewDecoder(bytes.NewReader(pattern))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("event pattern is not JSON: %w", err)
	}
	if d.More() {
		return nil, errors.New("event pattern is not JSON: more than one value")
	}
	p, ps := compile(fromJSON(v))
	if len(ps) > 0 {
		errs := make([]error, len(ps))
		for i, pr := range ps {
			errs[i] = pr
		}
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// MustCompile is Compile for patterns fixed in the code.
func MustCompile(pattern string) *Pattern {
	p, err := Compile([]byte(pattern))
	if err != nil {
		panic(err)
	}
	return p
}

// CompileYAML reads a pattern written in a YAML configuration file. Every
// problem found is returned with its node.
func CompileYAML(n *yaml.Node) (*Pattern, []Problem) {
	return compile(fromYAML(n))
}

// node is a pattern as read, from JSON or YAML, so that one parser serves
// both and YAML keeps its positions.
type node struct {
	kind  nodeKind
	keys  []string
	vals  []*node // the values of keys, for objects; the items, for lists
	val   any     // a scalar's value: string, float64, bool or nil
	valid bool    // whether a scalar is a JSON value
	text  string  // a scalar as written, for messages
	y     *yaml.Node
}

type nodeKind int

const (
	scalarNode nodeKind = iota
	objectNode
	listNode
)

func fromYAML(n *yaml.Node) *node {
	out := &node{y: n}
	switch n.Kind {
	case yaml.MappingNode:
		out.kind = objectNode
		for i := 0; i+1 < len(n.Content); i += 2 {
			out.keys = append(out.keys, n.Content[i].Value)
			out.vals = append(out.vals, fromYAML(n.Content[i+1]))
		}
	case yaml.SequenceNode:
		out.kind = listNode
		for _, c := range n.Content {
			out.vals = append(out.vals, fromYAML(c))
		}
	default:
		out.text = n.Value
		out.val, out.valid = yamlScalar(n)
	}
	return out
}

// yamlScalar decodes a YAML scalar into string, float64, bool or nil.
func yamlScalar(n *yaml.Node) (any, bool) {
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
	case string, bool, nil:
	default:
		return nil, false
	}
	return v, true
}

func fromJSON(v any) *node {
	switch x := v.(type) {
	case map[string]any:
		out := &node{kind: objectNode}
		// JSON objects are unordered; sorting keeps problems in a stable order.
		for k := range x {
			out.keys = append(out.keys, k)
		}
		sort.Strings(out.keys)
		for _, k := range out.keys {
			out.vals = append(out.vals, fromJSON(x[k]))
		}
		return out
	case []any:
		out := &node{kind: listNode}
		for _, e := range x {
			out.vals = append(out.vals, fromJSON(e))
		}
		return out
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return &node{val: f, valid: err == nil && !math.IsInf(f, 0), text: string(x)}
	case string:
		return &node{val: x, valid: true, text: x}
	default:
		return &node{val: x, valid: true, text: fmt.Sprint(x)}
	}
}

func (n *node) str() (string, bool) {
	s, ok := n.val.(string)
	return s, ok && n.kind == scalarNode && n.valid
}

type parser struct{ problems []Problem }

func (p *parser) add(n *node, format string, args ...any) {
	p.problems = append(p.problems, Problem{Node: n.y, Msg: fmt.Sprintf(format, args...)})
}

func compile(n *node) (*Pattern, []Problem) {
	if n.kind != objectNode || len(n.keys) == 0 {
		return nil, []Problem{{n.y, "a pattern must be a non-empty mapping of event fields"}}
	}
	var p parser
	root := p.object(n, nil)
	if len(p.problems) > 0 {
		return nil, p.problems
	}
	return &Pattern{root: root}, nil
}

// object reads a mapping of fields, all of which must hold, and its $or
// alternatives.
func (p *parser) object(n *node, path []string) *object {
	o := &object{}
	for i, name := range n.keys {
		v := n.vals[i]
		if name == "$or" {
			if v.kind != listNode || len(v.vals) < 2 {
				p.add(v, "$or takes a list of at least two patterns")
				continue
			}
			var alts []*object
			for _, alt := range v.vals {
				if alt.kind != objectNode || len(alt.keys) == 0 {
					p.add(alt, "each $or alternative must be a non-empty mapping")
					continue
				}
				alts = append(alts, p.object(alt, path))
			}
			o.ors = append(o.ors, alts)
			continue
		}
		fp := append(append([]string(nil), path...), name)
		where := strings.Join(fp, ".")
		switch v.kind {
		case objectNode:
			if len(v.keys) == 0 {
				p.add(v, "%s: an empty mapping matches nothing", where)
				continue
			}
			o.fields = append(o.fields, field{name: name, sub: p.object(v, fp)})
		case listNode:
			if f, ok := p.list(v, name, where); ok {
				o.fields = append(o.fields, f)
			}
		default:
			p.add(v, "%s: a value must be a list, e.g. [%s]", where, v.text)
		}
	}
	return o
}

func (p *parser) list(n *node, name, where string) (field, bool) {
	if len(n.vals) == 0 {
		p.add(n, "%s: an empty list matches nothing", where)
		return field{}, false
	}
	f := field{name: name, leaf: true}
	ok := true
	for _, item := range n.vals {
		m, err := readElem(item)
		if err != "" {
			p.add(item, "%s: %s", where, err)
			ok = false
			continue
		}
		f.any = append(f.any, m)
	}
	return f, ok
}

func readElem(n *node) (matcher, string) {
	switch n.kind {
	case scalarNode:
		if !n.valid {
			return nil, fmt.Sprintf("%q is not a JSON value", n.text)
		}
		return exact{n.val}, ""
	case objectNode:
		if len(n.keys) != 1 {
			return nil, "an operator is a mapping with exactly one key, e.g. {prefix: \"us-\"}"
		}
		return readOperator(n.keys[0], n.vals[0])
	default:
		return nil, "a list holds values or {operator: ...} mappings, not lists"
	}
}

func readOperator(op string, v *node) (matcher, string) {
	switch op {
	case "prefix", "suffix":
		s, ok := v.str()
		fold := false
		if !ok {
			s, ok = ignoreCase(v)
			fold = true
		}
		if !ok {
			return nil, op + " takes a string or {equals-ignore-case: string}"
		}
		if fold {
			s = strings.ToLower(s)
		}
		if op == "prefix" {
			return prefix{s: s, fold: fold}, ""
		}
		return suffix{s: s, fold: fold}, ""
	case "equals-ignore-case":
		if s, ok := v.str(); ok {
			return foldEqual{strings.ToLower(s)}, ""
		}
		return nil, "equals-ignore-case takes a string"
	case "wildcard":
		s, ok := v.str()
		if !ok {
			return nil, "wildcard takes a string"
		}
		return compileWildcard(s)
	case "exists":
		b, isBool := v.val.(bool)
		if v.kind != scalarNode || !isBool {
			return nil, "exists takes true or false"
		}
		return exists{b}, ""
	case "numeric":
		return readNumeric(v)
	case "cidr":
		s, ok := v.str()
		if !ok {
			return nil, "cidr takes a string such as 10.0.0.0/24"
		}
		return compileCIDR(s)
	case "anything-but":
		return readAnythingBut(v)
	default:
		return nil, fmt.Sprintf("unknown operator %q (EventBridge has prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists, cidr)", op)
	}
}

func ignoreCase(v *node) (string, bool) {
	if v.kind != objectNode || len(v.keys) != 1 || v.keys[0] != "equals-ignore-case" {
		return "", false
	}
	return v.vals[0].str()
}

func readAnythingBut(v *node) (matcher, string) {
	const usage = "anything-but takes a string, a number, a list of strings or of numbers, or {prefix|suffix|equals-ignore-case|wildcard: ...}"
	switch v.kind {
	case scalarNode:
		switch v.val.(type) {
		case string, float64:
			if v.valid {
				return not{[]matcher{exact{v.val}}}, ""
			}
		}
		return nil, usage
	case listNode:
		if len(v.vals) == 0 {
			return nil, "anything-but: the list is empty"
		}
		var ms []matcher
		kind := ""
		for _, it := range v.vals {
			k := fmt.Sprintf("%T", it.val)
			if it.kind != scalarNode || !it.valid || (k != "string" && k != "float64") || (kind != "" && k != kind) {
				return nil, "anything-but: a list must hold only strings or only numbers"
			}
			kind = k
			ms = append(ms, exact{it.val})
		}
		return not{ms}, ""
	case objectNode:
		if len(v.keys) != 1 {
			return nil, usage
		}
		op, arg := v.keys[0], v.vals[0]
		var args []string
		switch arg.kind {
		case scalarNode:
			s, ok := arg.str()
			if !ok {
				return nil, "anything-but " + op + " takes a string"
			}
			args = []string{s}
		case listNode:
			if op != "equals-ignore-case" && op != "wildcard" {
				return nil, "anything-but " + op + " takes one string"
			}
			for _, it := range arg.vals {
				s, ok := it.str()
				if !ok {
					return nil, "anything-but " + op + ": a list must hold strings"
				}
				args = append(args, s)
			}
			if len(args) == 0 {
				return nil, "anything-but " + op + ": the list is empty"
			}
		default:
			return nil, usage
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
					return nil, "anything-but " + err
				}
				ms = append(ms, w)
			default:
				return nil, usage
			}
		}
		return not{ms}, ""
	}
	return nil, usage
}

func readNumeric(v *node) (matcher, string) {
	const usage = `numeric takes [op, number] or a range [">" or ">=", number, "<" or "<=", number]; op is one of < <= = >= >`
	if v.kind != listNode || (len(v.vals) != 2 && len(v.vals) != 4) {
		return nil, usage
	}
	var out numeric
	for i := 0; i < len(v.vals); i += 2 {
		op, _ := v.vals[i].str()
		n, isNum := v.vals[i+1].val.(float64)
		switch op {
		case "<", "<=", "=", ">=", ">":
		default:
			return nil, fmt.Sprintf("numeric: unknown operator %q; %s", v.vals[i].text, usage)
		}
		if !isNum || !v.vals[i+1].valid || v.vals[i+1].kind != scalarNode {
			return nil, fmt.Sprintf("numeric: %q is not a number", v.vals[i+1].text)
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
