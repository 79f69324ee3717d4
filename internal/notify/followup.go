package notify

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/team"
)

// FollowUpGroupKey names the one-failure "group" a missed follow-up is
// announced under, in the Ledger and on Slack's buttons.
func FollowUpGroupKey(failureID string) string { return "followup-" + failureID }

// raised is the severity a missed follow-up is announced at.
var raised = map[string]string{"info": "warning", "warning": "critical", "critical": "critical"}

// EscalateFollowUp tells the failure's team, and the team it escalates
// to, that nobody reached the customer by the follow-up deadline due: an
// Escalated notification at raised severity, exactly once per receiver
// (the Ledger). Silences and quiet hours do not hold it back: it is the
// reminder that a customer is waiting. A receiver that is down makes it
// fail, so the loop's wake-up is delivered again.
func (s *Service) EscalateFollowUp(ctx context.Context, f events.Failure, due time.Time) error {
	owner, ok := s.Teams.Get(f.Team)
	if !ok {
		return fmt.Errorf("escalate follow-up of failure %s: team %q: %w", f.ID, f.Team, ErrUnknownTeam)
	}
	up := f
	if sev := raised[f.Severity]; sev != "" {
		up.Severity = sev
	}
	up.Labels = maps.Clone(f.Labels)
	if up.Labels == nil {
		up.Labels = map[string]string{}
	}
	up.Labels["severity"] = up.Severity
	up.Summary = fmt.Sprintf("Follow-up missed: nobody reached the customer by %s. %s", due.UTC().Format(time.RFC3339), f.Summary)
	to := []team.Team{owner}
	if e := owner.Escalation.To; e != "" {
		if t, ok := s.Teams.Get(e); ok {
			to = append(to, t)
		}
	}
	log := s.logger().With("failure_id", f.ID, "group", FollowUpGroupKey(f.ID))
	for _, t := range to {
		n := Notification{GroupKey: FollowUpGroupKey(f.ID), Kind: Escalated, Phase: "followup", Team: t, Owner: owner.ID,
			Labels: map[string]string{"rule": f.RuleID}, Failures: []events.Failure{up}}
		if err := s.deliver(ctx, log, n, flushTry{}); err != nil {
			return fmt.Errorf("escalate follow-up of failure %s to %s: %w", f.ID, t.ID, err)
		}
	}
	log.Info("missed follow-up escalated", "team", owner.ID, "escalated_to", owner.Escalation.To)
	return nil
}
