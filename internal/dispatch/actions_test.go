package dispatch

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ocxhq/ocx/internal/labels"
)

func TestRouteActions(t *testing.T) {
	cfg := load(t, `route:
  group_by: [team]
  routes:
    - matchers: ['rule="nps.detractor"']
      actions: [zendesk_ticket]
      routes:
        - matchers: ['severity="critical"']
          receiver: leads
`)
	for _, c := range []struct {
		set  labels.Set
		want string
	}{
		{labels.Set{"rule": "nps.detractor", "severity": "warning"}, "zendesk_ticket"},
		{labels.Set{"rule": "nps.detractor", "severity": "critical"}, "zendesk_ticket"}, // inherited
		{labels.Set{"rule": "csat.low", "severity": "warning"}, ""},
	} {
		if got := strings.Join(cfg.Actions(c.set), ","); got != c.want {
			t.Errorf("%v: actions %q, want %q", c.set, got, c.want)
		}
	}
	_, err := Load(fstest.MapFS{File: {Data: []byte("route:\n  actions: [jira_issue]\n")}}, File, teams)
	if err == nil || !strings.Contains(err.Error(), `routes.yaml:2: unknown action "jira_issue" (want one of zendesk_ticket)`) {
		t.Fatalf("got %v", err)
	}
}
