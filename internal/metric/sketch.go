package metric

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RelativeAccuracy is the DDSketch guarantee for every duration quantile
// OCX reports: the value returned for quantile q is within 1 % of the
// exact q-quantile (the value at rank ⌊q·(n−1)⌋ of the sorted sample).
const RelativeAccuracy = 0.01

// durations maps a duration in seconds to its sketch bin. Bins are fixed
// by the mapping alone, so a bin's count is an integer that adds across
// slots and buckets: a merged sketch is the sketch of all the values.
var durations = newLogMapping(RelativeAccuracy)

// logMapping is DDSketch's logarithmic index mapping (Masson, Rim and Lee,
// VLDB 2019), bin for bin what sketches-go's LogarithmicMapping computes,
// so counters written before stay readable. It is owned here because
// sketches-go's package also carries its protobuf encoding, whose
// reflection keeps every method of every linked type in each binary.
type logMapping struct {
	gamma, multiplier float64
}

func newLogMapping(relativeAccuracy float64) logMapping {
	gamma := (1 + relativeAccuracy) / (1 - relativeAccuracy)
	return logMapping{gamma: gamma, multiplier: 1 / math.Log(gamma)}
}

// Index is the bin of a positive value: ⌊log_γ(v)⌋.
func (m logMapping) Index(v float64) int {
	i := math.Log(v) * m.multiplier
	if i >= 0 {
		return int(i)
	}
	return int(i) - 1
}

// Value is the representative of bin i, within the relative accuracy of
// every value the bin holds.
func (m logMapping) Value(i int) float64 {
	return math.Exp(float64(i)/m.multiplier) * (1 + (1 - 2/(1+m.gamma)))
}

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
	bins := map[int]int64{}
	var zeros, n int64
	prefix := string(s) + "."
	for k, v := range f {
		bin, ok := strings.CutPrefix(k, prefix)
		if !ok || v == 0 {
			continue
		}
		if bin == "z" {
			zeros += v
			n += v
			continue
		}
		i, err := strconv.Atoi(bin)
		if err != nil {
			return nil, fmt.Errorf("sketch %s: bad bin field %q", s, k)
		}
		if v < 0 {
			return nil, fmt.Errorf("sketch %s: bin %d holds %d", s, i, v)
		}
		bins[i] += v
		n += v
	}
	out := make([]float64, len(qs))
	if n == 0 {
		for i := range out {
			out[i] = math.NaN()
		}
		return out, nil
	}
	keys := slices.Sorted(maps.Keys(bins))
	for i, q := range qs {
		if q < 0 || q > 1 {
			return nil, fmt.Errorf("sketch %s quantile %v: want 0 to 1", s, q)
		}
		// The value at rank ⌊q·(n−1)⌋: zeros first, then bins ascending.
		rank := float64(q * float64(n-1))
		if rank < float64(zeros) {
			out[i] = 0
			continue
		}
		rank -= float64(zeros)
		cum := 0.0
		out[i] = durations.Value(keys[len(keys)-1])
		for _, k := range keys {
			cum += float64(bins[k])
			if cum > rank {
				out[i] = durations.Value(k)
				break
			}
		}
	}
	return out, nil
}
