// Package metric defines the hourly counters OCX keeps per interaction and
// the score formulas computed from them. Counters are integer sums, so any
// bucket rolled up from them is exact.
package metric

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/ocxhq/ocx/events"
)

// Counter families.
const (
	FamilyInteractions = "interactions"
	FamilyNPS          = "survey.nps"
)

// Increment adds Fields to the counter (Family, Hour, Dims).
type Increment struct {
	Family string
	// Hour is the start of the UTC hour the event occurred in: a late event
	// lands in its own hour, never in the hour it arrived.
	Hour time.Time
	// Dims is the canonical dimension string, e.g. "channel=app".
	Dims   string
	Fields map[string]int64
}

// For returns the counter increments one interaction causes.
func For(ev events.Interaction) []Increment {
	hour := ev.OccurredAt.UTC().Truncate(time.Hour)
	out := []Increment{{
		Family: FamilyInteractions, Hour: hour,
		Dims:   "channel=" + ev.Channel + "|type=" + ev.Type,
		Fields: map[string]int64{"n": 1},
	}}
	if ev.Type == events.TypeSurveyResponded {
		name, _ := ev.Attributes["survey"].(string)
		score, ok := ev.Attributes["score"].(float64)
		if name != "" && ok {
			out = append(out, Increment{
				Family: "survey." + name, Hour: hour, Dims: "channel=" + ev.Channel,
				Fields: map[string]int64{ScoreField(int(score)): 1},
			})
		}
	}
	return out
}

// ScoreField names the histogram field counting answers of score s.
func ScoreField(s int) string { return "s" + strconv.Itoa(s) }

// Histogram counts answers per score.
type Histogram map[int]int64

// Add merges other into h.
func (h Histogram) Add(other Histogram) {
	for k, v := range other {
		h[k] += v
	}
}

// FromFields reads a histogram from counter fields named by ScoreField.
func FromFields(fields map[string]int64) Histogram {
	h := Histogram{}
	for k, v := range fields {
		if len(k) < 2 || k[0] != 's' {
			continue
		}
		if s, err := strconv.Atoi(k[1:]); err == nil {
			h[s] += v
		}
	}
	return h
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

func round2(v float64) float64 { return math.Round(v*100) / 100 }
