package metric

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// RelativeAccuracy is the DDSketch guarantee for every duration quantile
// OCX reports: the value returned for quantile q is within 1 % of the
// exact q-quantile (the value at rank ⌊q·(n−1)⌋ of the sorted sample).
const RelativeAccuracy = 0.01

// durations maps a duration in seconds to its sketch bin. Bins are fixed
// by the mapping alone, so a bin's count is an integer that adds across
// slots and buckets: a merged sketch is the sketch of all the values.
var durations = func() *mapping.LogarithmicMapping {
	m, err := mapping.NewLogarithmicMapping(RelativeAccuracy)
	if err != nil {
		panic(err)
	}
	return m
}()

// Sketch names a duration distribution kept in counter fields: "<name>.<bin>"
// counts values per DDSketch bin, "<name>.z" zero durations, "<name>_n" the
// count and "<name>_ms" the exact sum in milliseconds (for the mean).
type Sketch string

// Observe returns the fields one duration adds. A negative duration (the
// clocks of two systems disagreeing) counts as zero.
func (s Sketch) Observe(d time.Duration) Fields {
	ms := max(d.Milliseconds(), 0)
	f := Fields{string(s) + "_n": 1, string(s) + "_ms": ms}
	if ms == 0 {
		f[string(s)+".z"] = 1
	} else {
		f[string(s)+"."+strconv.Itoa(durations.Index(float64(ms)/1000))] = 1
	}
	return f
}

// Count is the number of durations in f.
func (s Sketch) Count(f Fields) int64 { return f[string(s)+"_n"] }

// Mean is the exact mean duration in seconds, NaN when there is none.
func (s Sketch) Mean(f Fields) float64 {
	n := s.Count(f)
	if n == 0 {
		return math.NaN()
	}
	return float64(f[string(s)+"_ms"]) / float64(n) / 1000
}

// Quantiles returns the durations in seconds at each quantile, within
// RelativeAccuracy of the exact values.
func (s Sketch) Quantiles(f Fields, qs ...float64) ([]float64, error) {
	pos := store.NewDenseStore()
	var zeros int64
	prefix := string(s) + "."
	for k, v := range f {
		bin, ok := strings.CutPrefix(k, prefix)
		if !ok || v == 0 {
			continue
		}
		if bin == "z" {
			zeros += v
			continue
		}
		i, err := strconv.Atoi(bin)
		if err != nil {
			return nil, fmt.Errorf("sketch %s: bad bin field %q", s, k)
		}
		if v < 0 {
			return nil, fmt.Errorf("sketch %s: bin %d holds %d", s, i, v)
		}
		pos.AddWithCount(i, float64(v))
	}
	sk := ddsketch.NewDDSketch(durations, pos, store.NewDenseStore())
	if zeros > 0 {
		if err := sk.AddWithCount(0, float64(zeros)); err != nil {
			return nil, err
		}
	}
	out := make([]float64, len(qs))
	if sk.IsEmpty() {
		for i := range out {
			out[i] = math.NaN()
		}
		return out, nil
	}
	for i, q := range qs {
		v, err := sk.GetValueAtQuantile(q)
		if err != nil {
			return nil, fmt.Errorf("sketch %s quantile %v: %w", s, q, err)
		}
		out[i] = v
	}
	return out, nil
}
