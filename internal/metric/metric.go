// Package metric defines what OCX measures: the counters each bus event
// adds to (interactions, survey scores, contacts, journeys, failures), the
// catalog of metrics computed from them and their formulas. Counters are
// integer sums — including the duration sketches, whose bins are counts —
// so any bucket rolled up from them, in any time zone, is exact.
//
// docs/metrics.md states every formula and why the figures are exact.
package metric

import (
	"strconv"
	"time"

	"github.com/ocxhq/ocx/events"
)

// Counter families the journey function writes with each interaction.
//
// Deprecated: the rollup function counts bus events itself (Observe,
// Tally); nothing reads these families. They remain until the journey
// function stops writing them.
const (
	FamilyInteractions = "interactions"
	FamilyNPS          = "survey.nps"
)

// Increment adds Fields to the hourly counter (Family, Hour, Dims).
//
// Deprecated: see FamilyInteractions; counting uses Delta.
type Increment struct {
	Family string
	Hour   time.Time
	Dims   string
	Fields map[string]int64
}

// For returns the hourly counter increments the journey function writes
// for one interaction.
//
// Deprecated: see FamilyInteractions.
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
