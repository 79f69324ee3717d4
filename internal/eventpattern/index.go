package eventpattern

import "slices"

// Index matches an event against many patterns. Most patterns name the
// event's detail-type or source exactly, so each is filed under those
// values and only the patterns filed under the event's own (and those
// that name neither) are tried.
type Index[T any] struct {
	entries  []entry[T]
	byType   map[string][]int
	bySource map[string][]int
	rest     []int
}

type entry[T any] struct {
	p *Pattern
	v T
}

// Add files a pattern with the value Match returns when it matches.
func (ix *Index[T]) Add(p *Pattern, v T) {
	i := len(ix.entries)
	ix.entries = append(ix.entries, entry[T]{p, v})
	file := func(m *map[string][]int, keys []string) {
		if *m == nil {
			*m = map[string][]int{}
		}
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			(*m)[k] = append((*m)[k], i)
		}
	}
	if keys, ok := p.root.exactly("detail-type"); ok {
		file(&ix.byType, keys)
	} else if keys, ok := p.root.exactly("source"); ok {
		file(&ix.bySource, keys)
	} else {
		ix.rest = append(ix.rest, i)
	}
}

// Match returns the values of the patterns the decoded event matches, in
// the order they were added.
func (ix *Index[T]) Match(event any) []T {
	var out []T
	try := func(i int) {
		if e := ix.entries[i]; e.p.Match(event) {
			out = append(out, e.v)
		}
	}
	candidates, ok := ix.candidates(event)
	if !ok {
		for i := range ix.entries {
			try(i)
		}
		return out
	}
	for _, i := range candidates {
		try(i)
	}
	return out
}

// candidates lists the patterns that may match, in the order they were
// added; false means every pattern may (the event's detail-type or source
// is not a plain string, e.g. an array, which exact values also match).
func (ix *Index[T]) candidates(event any) ([]int, bool) {
	doc, ok := event.(map[string]any)
	if !ok {
		return nil, false
	}
	var out []int
	for _, f := range []struct {
		name string
		m    map[string][]int
	}{{"detail-type", ix.byType}, {"source", ix.bySource}} {
		v, present := doc[f.name]
		if !present {
			continue
		}
		s, isStr := v.(string)
		if !isStr {
			return nil, false
		}
		out = append(out, f.m[s]...)
	}
	out = append(out, ix.rest...)
	// A pattern is filed under one field, so it is a candidate at most
	// once; sorting restores the order patterns were added in.
	slices.Sort(out)
	return out, true
}

// exactly returns the exact strings a top-level field of a matching event
// must be one of, when the pattern says so: the field's list holds only
// strings, or every alternative of a $or says so.
func (o *object) exactly(name string) ([]string, bool) {
	for _, f := range o.fields {
		if f.name != name || !f.leaf {
			continue
		}
		var keys []string
		for _, m := range f.any {
			e, ok := m.(exact)
			s, isStr := e.v.(string)
			if !ok || !isStr {
				return nil, false
			}
			keys = append(keys, s)
		}
		return keys, true
	}
	for _, alts := range o.ors {
		var keys []string
		all := true
		for _, a := range alts {
			k, ok := a.exactly(name)
			if !ok {
				all = false
				break
			}
			keys = append(keys, k...)
		}
		if all {
			return keys, true
		}
	}
	return nil, false
}
