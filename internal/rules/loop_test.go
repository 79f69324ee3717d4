package rules

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/loop"
)

func TestLoopSettings(t *testing.T) {
	fsys := fstest.MapFS{"rules/r.yaml": {Data: []byte(`rules:
  - id: survey.detractor
    kind: match
    description: Detractor answer
    severity: warning
    team: cx
    actions: [zendesk_ticket]
    follow_up: 48h
    recovery_window: 14d
    ack_reminder: 4h
    auto_resolve: 7d
    pattern: {detail-type: [survey.responded]}
`)}}
	rs, err := Load(fsys, "rules", []string{"cx"})
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if len(r.Actions) != 1 || r.Actions[0] != "zendesk_ticket" || r.FollowUp != 48*time.Hour || r.RecoveryWindow != 14*24*time.Hour ||
		r.AckReminder != 4*time.Hour || r.AutoResolve != 7*24*time.Hour {
		t.Fatalf("actions %v, follow_up %s, recovery_window %s", r.Actions, r.FollowUp, r.RecoveryWindow)
	}
	// The failures it raises carry what it asks, for the loop to read.
	f := r.failure("cus_1", "evt_1", nil, "cus_1", "an event matched", time.Unix(0, 0), time.Unix(1, 0))
	want := events.LoopPolicy{Actions: []string{"zendesk_ticket"}, FollowUpSeconds: 48 * 3600, RecoveryWindowSeconds: 14 * 86400,
		AckReminderSeconds: 4 * 3600, AutoResolveSeconds: 7 * 86400}
	if f.Policy == nil || !reflect.DeepEqual(*f.Policy, want) {
		t.Fatalf("failure's policy %+v, want %+v", f.Policy, want)
	}
	if p := loop.PolicyOf(f); p.FollowUp != r.FollowUp || p.AutoResolve != r.AutoResolve || !p.Wants("zendesk_ticket") {
		t.Fatalf("policy read back %+v", p)
	}

	bad := fstest.MapFS{"rules/r.yaml": {Data: []byte(`rules:
  - id: survey.detractor
    kind: match
    description: Detractor answer
    severity: warning
    team: cx
    actions: [jira_issue]
    follow_up: soon
    pattern: {detail-type: [survey.responded]}
`)}}
	_, err = Load(bad, "rules", []string{"cx"})
	for _, want := range []string{`rules/r.yaml:7: rule "survey.detractor": unknown action "jira_issue" (want one of zendesk_ticket)`,
		`rules/r.yaml:8: rule "survey.detractor": follow_up "soon": want a positive duration`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}
