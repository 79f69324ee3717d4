package notify

import (
	"context"
	"fmt"
	"maps"
	"strings"
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

// ReminderGroupKey names the one-failure "group" reminders of an
// acknowledged failure are sent under.
func ReminderGroupKey(failureID string) string { return "reminder-" + failureID }

// RemindAcknowledged reminds the failure's team that it acknowledged the
// failure and nobody resolved it: reminder n goes out once per receiver
// (the Ledger, phase "reminder#<n>"). A receiver that is down makes it
// fail, so the loop's wake-up is delivered again.
func (s *Service) RemindAcknowledged(ctx context.Context, f events.Failure, n int) error {
	owner, ok := s.Teams.Get(f.Team)
	if !ok {
		return fmt.Errorf("remind of failure %s: team %q: %w", f.ID, f.Team, ErrUnknownTeam)
	}
	r := f
	since := f.DetectedAt
	for _, st := range f.History {
		if st.State == "acknowledged" {
			since = st.At
		}
	}
	r.Summary = fmt.Sprintf("Acknowledged %s and still not resolved (reminder %d). %s", since.UTC().Format(time.RFC3339), n, f.Summary)
	note := Notification{GroupKey: ReminderGroupKey(f.ID), Kind: Firing, Phase: fmt.Sprintf("reminder#%d", n), Team: owner,
		Labels: map[string]string{"rule": f.RuleID}, Failures: []events.Failure{r}}
	if err := s.deliver(ctx, s.logger().With("failure_id", f.ID, "group", note.GroupKey), note, flushTry{}); err != nil {
		return fmt.Errorf("remind %s of failure %s: %w", owner.ID, f.ID, err)
	}
	return nil
}

// FailureOfGroupKey returns the failure a one-failure key (a missed
// follow-up's, a reminder's) names, so Slack's buttons on those messages
// act on that failure.
func FailureOfGroupKey(key string) (string, bool) {
	for _, prefix := range []string{"followup-", "reminder-"} {
		if id, ok := strings.CutPrefix(key, prefix); ok && id != "" {
			return id, true
		}
	}
	return "", false
}
