// Package metric defines what OCX measures: the counters each bus event
// adds to (interactions, survey scores, contacts, journeys, failures), the
// catalog of metrics computed from them and their formulas. Counters are
// integer sums — including the duration sketches, whose bins are counts —
// so any bucket rolled up from them, in any time zone, is exact.
//
// docs/metrics.md states every formula and why the figures are exact.
package metric

import "strconv"

// ScoreField names the histogram field counting answers of score s.
func ScoreField(s int) string { return "s" + strconv.Itoa(s) }

// DefaultAttributes are the customer dimensions unless configured
// otherwise.
const DefaultAttributes = "plan,region"
