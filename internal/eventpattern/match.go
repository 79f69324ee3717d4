package eventpattern

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// object is a mapping of a pattern: every field holds, and for each $or
// one of its alternatives holds, on the same object of the event.
type object struct {
	fields []field
	ors    [][]*object
}

// field is one name of a mapping: a nested mapping (sub) or, when leaf, a
// list of which any element may match.
type field struct {
	name string
	leaf bool
	sub  *object
	any  []matcher
}

// matcher tests one leaf value of an event.
type matcher interface{ match(v any) bool }

// Match reports whether a decoded JSON event (map[string]any, []any,
// string, float64 or json.Number, bool, nil; other Go numbers are taken as
// numbers too) matches the pattern.
func (p *Pattern) Match(event any) bool { return p.root.holds(event, true) }

// MatchJSON is Match on an encoded event.
func (p *Pattern) MatchJSON(event []byte) (bool, error) {
	doc, err := Decode(event)
	if err != nil {
		return false, err
	}
	return p.Match(doc), nil
}

// Decode decodes an event for Match, keeping numbers exact as written.
func Decode(event []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(event))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode event for matching: %w", err)
	}
	return doc, nil
}

// holds tests the object pattern against an event value. As in
// EventBridge, when the value is an array the pattern holds if it holds on
// one element, all its fields on that same element; any other value, or
// none (present false), has no fields, which only exists: false accepts.
func (o *object) holds(v any, present bool) bool {
	if arr, ok := v.([]any); ok && present {
		found := false
		for _, e := range arr {
			found = true
			if o.holds(e, true) {
				return true
			}
		}
		if found {
			return false
		}
		present = false
	}
	m, _ := v.(map[string]any)
	if !present {
		m = nil
	}
	for _, f := range o.fields {
		fv, ok := m[f.name]
		if f.leaf {
			if !f.holds(fv, ok) {
				return false
			}
		} else if !f.sub.holds(fv, ok) {
			return false
		}
	}
	for _, alts := range o.ors {
		one := false
		for _, a := range alts {
			if a.holds(v, present) {
				one = true
				break
			}
		}
		if !one {
			return false
		}
	}
	return true
}

// holds tests a leaf list: it holds when any of its matchers accepts any
// of the field's values, arrays flattened. Objects are not leaf values, so
// a field holding only objects (or an empty array) does not exist.
func (f field) holds(v any, present bool) bool {
	var buf [4]any
	vals := buf[:0]
	if present {
		vals = leaves(vals, v)
	}
	for _, m := range f.any {
		if e, ok := m.(exists); ok {
			if (len(vals) > 0) == e.want {
				return true
			}
			continue
		}
		for _, x := range vals {
			if m.match(x) {
				return true
			}
		}
	}
	return false
}

func leaves(out []any, v any) []any {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = leaves(out, e)
		}
	case map[string]any:
	default:
		out = append(out, x)
	}
	return out
}

// Values returns the leaf values at path in a decoded event, arrays
// anywhere along the path flattened, the way a pattern's field sees them.
func Values(doc any, path []string) []any {
	switch x := doc.(type) {
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, Values(e, path)...)
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
		return Values(v, path[1:])
	default:
		if len(path) > 0 {
			return nil
		}
		return []any{x}
	}
}

// number reads an event value as a number; strings are never numbers.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case float32:
		return float64(x), true
	}
	return 0, false
}

// exact is a value: strings compare as strings, numbers by value (300
// matches 300.0 and 3e2), booleans and null as themselves.
type exact struct{ v any }

func (e exact) match(v any) bool {
	switch want := e.v.(type) {
	case float64:
		n, ok := number(v)
		return ok && n == want
	case string:
		s, ok := v.(string)
		return ok && s == want
	case bool:
		b, ok := v.(bool)
		return ok && b == want
	case nil:
		return v == nil
	}
	return false
}

type prefix struct {
	s    string
	fold bool
}

func (p prefix) match(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	if p.fold {
		return strings.HasPrefix(strings.ToLower(s), p.s)
	}
	return strings.HasPrefix(s, p.s)
}

type suffix struct {
	s    string
	fold bool
}

func (p suffix) match(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	if p.fold {
		return strings.HasSuffix(strings.ToLower(s), p.s)
	}
	return strings.HasSuffix(s, p.s)
}

type foldEqual struct{ lower string }

func (f foldEqual) match(v any) bool {
	s, ok := v.(string)
	return ok && strings.ToLower(s) == f.lower
}

// exists tests the presence of a field; field.holds decides it, since it
// is about the field rather than any one value.
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

func compileCIDR(s string) (matcher, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return nil, fmt.Sprintf("cidr %q: %v", s, err)
	}
	return cidr{p.Masked()}, ""
}

func (c cidr) match(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(s)
	return err == nil && c.p.Contains(a.Unmap())
}

// numeric holds one or two comparisons, all of which must hold. Only
// numbers match: "3" is a string.
type numeric []comparison

type comparison struct {
	op string
	n  float64
}

func (c numeric) match(v any) bool {
	f, ok := number(v)
	if !ok || math.IsNaN(f) {
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

// wildcard matches strings against a pattern where * stands for any run of
// characters; \* is a literal star and \\ a literal backslash.
type wildcard struct {
	// parts are the literal runs between stars; the pattern starts or ends
	// with a star when the first or last part is empty.
	parts []string
}

func compileWildcard(s string) (matcher, string) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return nil, fmt.Sprintf("wildcard %q: a backslash must escape * or \\", s)
			}
			i++
			cur.WriteByte(s[i])
		case '*':
			if i+1 < len(s) && s[i+1] == '*' {
				return nil, fmt.Sprintf("wildcard %q: consecutive * are not allowed", s)
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
