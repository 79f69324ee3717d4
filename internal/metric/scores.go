package metric

import (
	"fmt"
	"math"
)

// MinSample is the number of responses (or, for a rate, of cases) below
// which a figure is flagged low_sample: its 95 % interval is then wide
// enough that a change from one bucket to the next is mostly noise. The
// figure is still reported, with its interval.
const MinSample = 30

// z975 is the standard normal quantile for a two-sided 95 % interval.
const z975 = 1.959963984540054

// Score scales of the surveys OCX scores.
var scales = map[string][2]int{"nps": {0, 10}, "csat": {1, 5}, "ces": {1, 7}}

// InScale reports whether score is a valid answer to survey.
func InScale(survey string, score int) bool {
	s, ok := scales[survey]
	return ok && score >= s[0] && score <= s[1]
}

// Histogram counts answers per score.
type Histogram map[int]int64

// Add merges other into h.
func (h Histogram) Add(other Histogram) {
	for k, v := range other {
		h[k] += v
	}
}

func (h Histogram) n() int64 {
	var n int64
	for _, v := range h {
		n += v
	}
	return n
}

// NPSScore is a Net Promoter Score with its sample.
type NPSScore struct {
	// Value is %promoters - %detractors, -100..100; undefined when N is 0.
	Value      float64 `json:"value"`
	N          int64   `json:"n"`
	Promoters  int64   `json:"promoters"`
	Passives   int64   `json:"passives"`
	Detractors int64   `json:"detractors"`
}

// NPS computes the Net Promoter Score on the 0-10 scale: promoters answer
// 9-10, passives 7-8, detractors 0-6.
func NPS(h Histogram) (NPSScore, error) {
	var s NPSScore
	for score, n := range h {
		switch {
		case score < 0 || score > 10:
			return NPSScore{}, fmt.Errorf("NPS answer %d outside 0-10", score)
		case score >= 9:
			s.Promoters += n
		case score >= 7:
			s.Passives += n
		default:
			s.Detractors += n
		}
		s.N += n
	}
	if s.N > 0 {
		s.Value = round2(100 * float64(s.Promoters-s.Detractors) / float64(s.N))
	}
	return s, nil
}

// NPSInterval is the 95 % interval of an NPS by the adjusted-Wald method
// (Rocks 2016, recommended by Sauro and Lewis for small samples): 3/4 of
// an answer is added to promoters and to detractors and 3/2 to passives
// before the Wald interval of the difference of two proportions of one
// multinomial sample, widened where needed to contain the observed score.
// The plain Wald interval collapses to a point at
// NPS ±100 and is too narrow below about 30 answers.
func NPSInterval(s NPSScore) (lo, hi float64) {
	if s.N == 0 {
		return math.NaN(), math.NaN()
	}
	n := float64(s.N) + 3
	p := (float64(s.Promoters) + 0.75) / n
	d := (float64(s.Detractors) + 0.75) / n
	diff := p - d
	se := math.Sqrt((p + d - diff*diff) / n)
	lo, hi = clamp(round2(100*(diff-z975*se)), -100, 100), clamp(round2(100*(diff+z975*se)), -100, 100)
	// The adjustment centres the interval away from the observed score; with
	// one or two answers at ±100 it would leave the score outside. An
	// interval that excludes what was measured helps nobody, so it is
	// widened to reach it.
	return min(lo, s.Value), max(hi, s.Value)
}

// Proportion is a share of a sample with its Wilson score interval, in
// percent. Wilson rather than Wald: it stays inside 0..100 and keeps its
// coverage near 0 %, 100 % and for small samples.
type Proportion struct {
	Value, Low, High float64
	N                int64
}

// Share returns k of n as a percentage with its 95 % interval; all NaN
// when n is 0.
func Share(k, n int64) Proportion {
	if n <= 0 {
		return Proportion{Value: math.NaN(), Low: math.NaN(), High: math.NaN()}
	}
	p := float64(k) / float64(n)
	if k < 0 || k > n {
		// Possible only for a ratio of two cohorts (failures per journey
		// started in the same bucket); it has no binomial interval.
		return Proportion{Value: round2(100 * p), N: n, Low: math.NaN(), High: math.NaN()}
	}
	fn := float64(n)
	z2 := z975 * z975
	den := 1 + z2/fn
	center := (p + z2/(2*fn)) / den
	half := z975 / den * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn))
	return Proportion{
		Value: round2(100 * p), N: n,
		Low:  clamp(round2(100*(center-half)), 0, 100),
		High: clamp(round2(100*(center+half)), 0, 100),
	}
}

// CSAT is the share of 4 and 5 answers on the 1-5 scale, in percent.
func CSAT(h Histogram) (satisfied int64, p Proportion) {
	satisfied = h[4] + h[5]
	return satisfied, Share(satisfied, h.n())
}

// Mean is an average with its 95 % interval.
type Mean struct {
	Value, Low, High float64
	N                int64
}

// CES is the mean answer on the 1-7 agreement scale ("the company made it
// easy"), with a Student-t interval, and the count of 5-7 answers. The
// interval needs two answers; the histogram carries the sum of squares, so
// it is exact for any merge of buckets.
func CES(h Histogram) (agree int64, m Mean) {
	var n, sum, sq float64
	for s, k := range h {
		n += float64(k)
		sum += float64(s) * float64(k)
		sq += float64(s*s) * float64(k)
	}
	agree = h[5] + h[6] + h[7]
	m = Mean{Value: math.NaN(), Low: math.NaN(), High: math.NaN(), N: int64(n)}
	if n == 0 {
		return agree, m
	}
	mean := sum / n
	m.Value = round2(mean)
	if n < 2 {
		return agree, m
	}
	variance := math.Max(0, (sq-n*mean*mean)/(n-1))
	half := tQuantile975(int(n)-1) * math.Sqrt(variance/n)
	m.Low, m.High = clamp(round2(mean-half), 1, 7), clamp(round2(mean+half), 1, 7)
	return agree, m
}

// t975 are Student's t 0.975 quantiles for 1..30 degrees of freedom.
var t975 = [...]float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}

// tQuantile975 is Student's t 0.975 quantile: tabulated up to 30 degrees
// of freedom, beyond by the Cornish-Fisher expansion about the normal
// quantile (error under 1e-4 there).
func tQuantile975(df int) float64 {
	if df < 1 {
		return math.NaN()
	}
	if df <= len(t975) {
		return t975[df-1]
	}
	z, v := z975, float64(df)
	z3, z5, z7 := z*z*z, math.Pow(z, 5), math.Pow(z, 7)
	return z + (z3+z)/(4*v) + (5*z5+16*z3+3*z)/(96*v*v) + (3*z7+19*z5+17*z3-15*z)/(384*v*v*v)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
