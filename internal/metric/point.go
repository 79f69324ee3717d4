package metric

import (
	"encoding/json"
	"math"
	"time"
)

// Point is one bucket of a metric series.
type Point struct {
	Start time.Time
	// Value is the figure; NaN (null in JSON) when the bucket has no
	// sample to compute it from.
	Value float64
	// N is the sample the value is computed from: responses, contacts,
	// journeys started, durations, or the count itself.
	N int64
	// Low and High bound the 95 % confidence interval of a score or rate;
	// NaN when there is none (a count, or too small a sample).
	Low, High float64
	// LowSample is true for a score or rate from fewer than MinSample
	// answers or cases.
	LowSample bool
	// Provisional is true while the bucket can still change without any
	// late event: it has not ended, or (first-contact resolution) its
	// contacts' follow-up window has not.
	Provisional bool
	// Parts are the counts the value is made of.
	Parts map[string]int64
	// Stats are further figures: duration quantiles and means in seconds,
	// the CES share of 5-7 answers in percent.
	Stats map[string]float64
}

type pointJSON struct {
	Start       time.Time           `json:"start"`
	Value       *float64            `json:"value"`
	N           int64               `json:"n"`
	Low         *float64            `json:"ci_low"`
	High        *float64            `json:"ci_high"`
	LowSample   bool                `json:"low_sample"`
	Provisional bool                `json:"provisional"`
	Parts       map[string]int64    `json:"parts,omitempty"`
	Stats       map[string]*float64 `json:"stats,omitempty"`
}

func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func unnum(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// MarshalJSON writes undefined figures as null.
func (p Point) MarshalJSON() ([]byte, error) {
	j := pointJSON{Start: p.Start, Value: num(p.Value), N: p.N, Low: num(p.Low), High: num(p.High),
		LowSample: p.LowSample, Provisional: p.Provisional, Parts: p.Parts}
	if len(p.Stats) > 0 {
		j.Stats = map[string]*float64{}
		for k, v := range p.Stats {
			j.Stats[k] = num(v)
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads null figures as NaN.
func (p *Point) UnmarshalJSON(b []byte) error {
	var j pointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Point{Start: j.Start, Value: unnum(j.Value), N: j.N, Low: unnum(j.Low), High: unnum(j.High),
		LowSample: j.LowSample, Provisional: j.Provisional, Parts: j.Parts}
	if len(j.Stats) > 0 {
		p.Stats = map[string]float64{}
		for k, v := range j.Stats {
			p.Stats[k] = unnum(v)
		}
	}
	return nil
}
