package notify

import (
	"context"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/team"
)

func TestEscalateFollowUpOncePerTeamAtRaisedSeverity(t *testing.T) {
	f := newRetryFixture(t)
	f.svc.Teams = team.NewRegistry(
		team.Team{ID: "support", Slack: "support", Escalation: team.Escalation{After: time.Hour, To: "leads"}},
		team.Team{ID: "leads", Slack: "leads"})
	f.slack.up = true
	var seen []Notification
	f.svc.Notifiers = []Notifier{recordingNotifier{f.slack, &seen}}
	fl := events.Failure{ID: "flr_1", RuleID: "survey.detractor", Team: "support", Severity: "warning", DetectedAt: *f.clock,
		Labels: map[string]string{"rule": "survey.detractor", "severity": "warning"}}
	due := f.clock.Add(48 * time.Hour)
	for range 2 { // a redelivered wake-up sends nothing more
		if err := f.svc.EscalateFollowUp(context.Background(), fl, due); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 || seen[0].Team.ID != "support" || seen[1].Team.ID != "leads" {
		t.Fatalf("sent %d notifications: %+v", len(seen), seen)
	}
	for _, n := range seen {
		if n.Kind != Escalated || n.Failures[0].Severity != "critical" || n.Failures[0].Labels["severity"] != "critical" || n.Owner != "support" {
			t.Fatalf("notification %+v", n)
		}
	}
	if fl.Labels["severity"] != "warning" {
		t.Fatal("the caller's failure was changed")
	}
}

type recordingNotifier struct {
	*flaky
	seen *[]Notification
}

func (r recordingNotifier) Notify(ctx context.Context, n Notification) (bool, error) {
	*r.seen = append(*r.seen, n)
	return r.flaky.Notify(ctx, n)
}

func TestRemindAcknowledgedOncePerReminder(t *testing.T) {
	f := newRetryFixture(t)
	f.slack.up = true
	var seen []Notification
	f.svc.Notifiers = []Notifier{recordingNotifier{f.slack, &seen}}
	fl := events.Failure{ID: "flr_2", RuleID: "survey.detractor", Team: "support", Severity: "warning", DetectedAt: *f.clock, State: "acknowledged",
		History: []events.FailureStep{{State: "open", By: "rule", At: *f.clock}, {State: "acknowledged", By: "ann", At: f.clock.Add(time.Minute)}}}
	for _, n := range []int{1, 1, 2} {
		if err := f.svc.RemindAcknowledged(context.Background(), fl, n); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 || seen[0].Phase != "reminder#1" || seen[1].Phase != "reminder#2" || seen[0].Team.ID != "support" {
		t.Fatalf("sent %+v", seen)
	}
}

func TestFailureOfGroupKey(t *testing.T) {
	for key, want := range map[string]string{FollowUpGroupKey("flr_1"): "flr_1", ReminderGroupKey("flr_2"): "flr_2", "g0123": "", "followup-": ""} {
		if got, ok := FailureOfGroupKey(key); got != want || ok != (want != "") {
			t.Errorf("%q: %q %v, want %q", key, got, ok, want)
		}
	}
}
