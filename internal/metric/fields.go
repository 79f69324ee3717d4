package metric

import (
	"net/url"
	"sort"
	"strings"
	"time"
)

// Quantum is the resolution counters are kept at. Fifteen minutes, not an
// hour, because every time zone in use today is offset from UTC by a
// multiple of it (India +5:30, Nepal +5:45): any local day, week or month
// is then a whole number of counter slots, so a bucket in any zone is an
// exact sum.
const Quantum = 15 * time.Minute

// Slot is the start of the counter slot t falls in. A late event lands in
// the slot it occurred in, never the one it arrived in.
func Slot(t time.Time) time.Time { return t.UTC().Truncate(Quantum) }

// Fields are the named integer sums one counter (or a merge of counters)
// holds. Integers, so any merge is exact and order-independent.
type Fields map[string]int64

// Add merges o into f.
func (f Fields) Add(o Fields) {
	for k, v := range o {
		f[k] += v
	}
}

// Zero reports whether every field is 0, as a counter a backfill emptied is.
func (f Fields) Zero() bool {
	for _, v := range f {
		if v != 0 {
			return false
		}
	}
	return true
}

// Cells are a family's fields per dimension combination (a canonical Dims
// string): the content of one counter slot or one rolled-up bucket.
type Cells map[string]Fields

// Add merges fields into the cell dims.
func (c Cells) Add(dims string, f Fields) {
	cell, ok := c[dims]
	if !ok {
		cell = Fields{}
		c[dims] = cell
	}
	cell.Add(f)
}

// Merge adds every cell of o into c.
func (c Cells) Merge(o Cells) {
	for d, f := range o {
		c.Add(d, f)
	}
}

// Dims is a dimension combination, e.g. channel=zendesk, type=ticket.created.
type Dims map[string]string

// maxDimValue bounds a dimension value: dimensions are for grouping, and an
// unbounded free-text value would make every event its own group.
const maxDimValue = 64

// Encode is the canonical string of d: sorted, escaped, empty values left
// out, so equal combinations always share one counter.
func (d Dims) Encode() string {
	v := url.Values{}
	for k, s := range d {
		if s = strings.TrimSpace(s); s != "" {
			if len(s) > maxDimValue {
				s = s[:maxDimValue]
			}
			v.Set(k, s)
		}
	}
	return v.Encode()
}

// DecodeDims parses a canonical Dims string.
func DecodeDims(s string) Dims {
	v, _ := url.ParseQuery(s)
	d := Dims{}
	for k, vs := range v {
		if len(vs) > 0 {
			d[k] = vs[0]
		}
	}
	return d
}

// Delta adds Fields to one counter: a family's dimension combination in one
// slot.
type Delta struct {
	Family string
	Start  time.Time
	Dims   string
	Fields Fields
}

// Merge sums deltas that address the same counter, so one event writes
// each counter once (DynamoDB refuses a transaction naming an item twice).
func Merge(ds []Delta) []Delta {
	type key struct {
		family, dims string
		start        int64
	}
	idx := map[key]int{}
	var out []Delta
	for _, d := range ds {
		if len(d.Fields) == 0 {
			continue
		}
		k := key{d.Family, d.Dims, d.Start.UnixNano()}
		if i, ok := idx[k]; ok {
			out[i].Fields.Add(d.Fields)
			continue
		}
		idx[k] = len(out)
		f := Fields{}
		f.Add(d.Fields)
		out = append(out, Delta{Family: d.Family, Start: d.Start, Dims: d.Dims, Fields: f})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Family != out[j].Family {
			return out[i].Family < out[j].Family
		}
		return out[i].Start.Before(out[j].Start)
	})
	return out
}
