package metric

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ocxhq/ocx/events"
)

// TimeToFollowUp is the sketch of how long after detection the team first
// reached the customer, kept in the failure family.
const TimeToFollowUp Sketch = "ttf"

// RecoverySettles is how long a bucket's recovery figures can still change
// without a late event: the default recovery window.
const RecoverySettles = 30 * 24 * time.Hour

// LoopStep is a failure.followed_up or failure.outcome event: a step of a
// failure's closed loop, counted in the failure family in the slot the
// failure was detected in, like MTTA and MTTR.
type LoopStep struct {
	Type                                   string
	Rule, Team, Severity, Channel, Journey string
	DetectedAt, FollowedUpAt               time.Time
	Outcome                                string
	Closed                                 bool
}

// observeLoop reads a loop event; ok is false for a loop event the
// metrics do not count (an escalation).
func observeLoop(detailType, envelopeID string, detail []byte) (o Observation, ok bool, err error) {
	if detailType != events.TypeFailureFollowedUp && detailType != events.TypeFailureOutcome {
		return o, false, nil
	}
	var l events.FailureLoop
	if err := json.Unmarshal(detail, &l); err != nil {
		return o, false, fmt.Errorf("decode %s %s: %w", detailType, envelopeID, err)
	}
	if l.DetectedAt.IsZero() {
		return o, false, fmt.Errorf("%s %s: no detected_at", detailType, envelopeID)
	}
	o.Key = key(detailType, l.FailureID, envelopeID)
	o.Loop = &LoopStep{Type: detailType, Rule: l.RuleID, Team: l.Team, Severity: l.Severity, Channel: l.Channel, Journey: l.Journey,
		DetectedAt: l.DetectedAt.UTC(), FollowedUpAt: l.FollowedUpAt.UTC(), Outcome: l.Outcome, Closed: l.Closed}
	return o, true, nil
}

// Deltas returns what a loop step adds to the failure family.
func (l *LoopStep) Deltas() []Delta {
	d := Delta{Family: FamilyFailures, Start: Slot(l.DetectedAt), Fields: Fields{},
		Dims: Dims{"rule": l.Rule, "team": l.Team, "severity": l.Severity, "channel": l.Channel, "journey": l.Journey}.Encode()}
	switch l.Type {
	case events.TypeFailureFollowedUp:
		if l.FollowedUpAt.IsZero() {
			return nil
		}
		d.Fields["followed"] = 1
		d.Fields.Add(TimeToFollowUp.Observe(l.FollowedUpAt.Sub(l.DetectedAt)))
	case events.TypeFailureOutcome:
		switch l.Outcome {
		case events.OutcomeRecovered:
			d.Fields["recovered"] = 1
		case events.OutcomeChurned:
			d.Fields["churned"] = 1
		default:
			return nil
		}
		d.Fields["decided"] = 1
		if l.Closed {
			d.Fields["closed"] = 1
		}
	default:
		return nil
	}
	return []Delta{d}
}

// loopMetrics are the closed-loop figures, computed from the failure
// family.
func loopMetrics() []Metric {
	return []Metric{
		{Name: "recovery_rate", Family: FamilyFailures, Kind: KindRate, Unit: "percent", Settles: RecoverySettles,
			Description: "Share of the failures detected in the bucket whose customer recovered, of those with an outcome so far.",
			Formula:     "100 × failures whose customer recovered (a later NPS ≥ 7 or CSAT ≥ 4, a later order or payment, or no repeat contact in the window) ÷ failures with an outcome; 95 % Wilson interval; provisional for the recovery window (30 days by default)",
			Dimensions:  failureDims, Parts: []string{"recovered", "decided"},
			compute: rate(field("recovered"), "decided", "recovered")},
		{Name: "churn_after_failure_rate", Family: FamilyFailures, Kind: KindRate, Unit: "percent", Settles: RecoverySettles,
			Description: "Share of the failures detected in the bucket whose customer churned, of those with an outcome so far.",
			Formula:     "100 × failures whose customer churned (a cancellation or refund, silence, or only another contact in the window) ÷ failures with an outcome; 95 % Wilson interval; provisional for the recovery window",
			Dimensions:  failureDims, Parts: []string{"churned", "decided"},
			compute: rate(field("churned"), "decided", "churned")},
		{Name: "loop_closed_rate", Family: FamilyFailures, Kind: KindRate, Unit: "percent", Settles: RecoverySettles,
			Description: "Share of the failures detected in the bucket whose loop was closed — the team reached the customer and resolved the failure before its outcome — of those with an outcome so far.",
			Formula:     "100 × failures followed up and resolved before their outcome ÷ failures with an outcome; 95 % Wilson interval; provisional for the recovery window",
			Dimensions:  failureDims, Parts: []string{"closed", "decided"},
			compute: rate(field("closed"), "decided", "closed")},
		{Name: "time_to_follow_up", Family: FamilyFailures, Kind: KindDuration, Unit: "seconds",
			Description: "Time from a failure's detection to the team first reaching its customer (those reached so far); the value is the median.",
			Formula:     "p50 of (followed up − detected) from a DDSketch (1 % relative error); stats p90, p99 and the exact mean",
			Dimensions:  failureDims, Stats: []string{"p50", "p90", "p99", "mean"},
			compute: duration(TimeToFollowUp, "p50")},
	}
}
