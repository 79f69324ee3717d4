package rules

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"
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
