package metric

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// Intervals computed by hand (and checked against R's binom.confint and
// t.test) for small samples where the method matters.
func TestNPSInterval(t *testing.T) {
	cases := []struct {
		name   string
		s      NPSScore
		lo, hi float64
	}{
		// n=4: 1 promoter, 1 passive, 2 detractors. Adjusted: n'=7,
		// p'=1.75/7=.25, d'=2.75/7=.392857, diff=-.142857,
		// var=.642857-.020408=.622449, se=sqrt(.622449/7)=.298194.
		{"small sample", NPSScore{Value: -25, N: 4, Promoters: 1, Passives: 1, Detractors: 2}, -72.73, 44.16},
		// All promoters: Wald would give [100,100]; adjusted Wald does not.
		// n'=13, p'=10.75/13=.826923, d'=.75/13=.057692, diff=.769231,
		// var=.884615-.591716=.292899, se=.150100.
		{"all promoters", NPSScore{Value: 100, N: 10, Promoters: 10}, 47.5, 100},
		// One promoter: n'=4, p'=.4375, d'=.1875, diff=.25, var=.5625,
		// se=.375: [-48.5, 98.5] misses the 100 measured; widened to it.
		{"one promoter", NPSScore{Value: 100, N: 1, Promoters: 1}, -48.5, 100},
		{"one detractor", NPSScore{Value: -100, N: 1, Detractors: 1}, -100, 48.5},
	}
	for _, c := range cases {
		lo, hi := NPSInterval(c.s)
		if !near(lo, c.lo, 0.011) || !near(hi, c.hi, 0.011) {
			t.Errorf("%s: interval [%v, %v], want [%v, %v]", c.name, lo, hi, c.lo, c.hi)
		}
		if lo > c.s.Value || hi < c.s.Value {
			t.Errorf("%s: interval [%v, %v] misses the score %v", c.name, lo, hi, c.s.Value)
		}
	}
	if lo, hi := NPSInterval(NPSScore{}); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("empty sample has interval [%v, %v]", lo, hi)
	}
}

func TestShareWilson(t *testing.T) {
	// 8 of 10: Wilson 95 % is [0.4902, 0.9433] (binom.confint method="wilson").
	p := Share(8, 10)
	if p.Value != 80 || !near(p.Low, 49.02, 0.011) || !near(p.High, 94.33, 0.011) {
		t.Errorf("Share(8, 10) = %+v", p)
	}
	// 0 of 5 stays within 0..100 with a real upper bound: [0, 0.4345].
	if p := Share(0, 5); p.Value != 0 || p.Low != 0 || !near(p.High, 43.45, 0.011) {
		t.Errorf("Share(0, 5) = %+v", p)
	}
	if p := Share(0, 0); !math.IsNaN(p.Value) || !math.IsNaN(p.Low) {
		t.Errorf("Share(0, 0) = %+v, want NaN", p)
	}
	if p := Share(3, 2); p.Value != 150 || !math.IsNaN(p.Low) {
		t.Errorf("Share(3, 2) = %+v, want 150 without interval", p)
	}
}

func TestCSATAndCES(t *testing.T) {
	// CSAT: 3 of 5 answers are 4 or 5; the 3/4 edge counts 4, not 3.
	sat, p := CSAT(Histogram{3: 1, 4: 2, 5: 1, 1: 1})
	if sat != 3 || p.Value != 60 || p.N != 5 {
		t.Errorf("CSAT = %d %+v", sat, p)
	}
	// CES: answers 2, 4, 6, 7 -> mean 4.75, s = 2.217356, t(3) = 3.182,
	// half width = 3.182 × 2.217356 / 2 = 3.5278.
	agree, m := CES(Histogram{2: 1, 4: 1, 6: 1, 7: 1})
	if agree != 2 || m.Value != 4.75 || m.N != 4 || !near(m.Low, 1.22, 0.011) || !near(m.High, 7, 0.001) {
		t.Errorf("CES = %d %+v", agree, m)
	}
	if _, m := CES(Histogram{5: 1}); m.Value != 5 || !math.IsNaN(m.Low) {
		t.Errorf("CES of one answer = %+v, want a mean without interval", m)
	}
	if _, m := CES(Histogram{}); !math.IsNaN(m.Value) {
		t.Errorf("CES of nothing = %+v", m)
	}
}

func TestTQuantile(t *testing.T) {
	// Beyond the table the expansion continues it smoothly (t(40) =
	// 2.0211, t(120) = 1.9799) and approaches the normal quantile.
	for df, want := range map[int]float64{30: 2.042, 31: 2.0395, 40: 2.0211, 120: 1.9799, 100000: 1.96} {
		if got := tQuantile975(df); !near(got, want, 0.0006) {
			t.Errorf("t(%d) = %v, want %v", df, got, want)
		}
	}
}
