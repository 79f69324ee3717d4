package dispatch

import (
	"testing"
	"testing/fstest"
	"time"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/labels"
)

var teams = []string{"cx-support", "payments", "digital", "leads"}

func load(t *testing.T, yaml string) Config {
	t.Helper()
	cfg, err := Load(fstest.MapFS{File: {Data: []byte(yaml)}}, File, teams)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const tree = `route:
  group_by: [team]
  group_wait: 30s
  routes:
    - matchers: ['severity="critical"']
      receiver: leads
      group_wait: 0s
      continue: true
    - matchers: ['team=payments']
      group_by: [team, rule]
      repeat_interval: 1h
      routes:
        - matchers: ['channel=~"stripe|paypal"']
          group_interval: 10m
    - matchers: ['team=payments']
      receiver: digital
`

func TestMatchInheritsAndContinues(t *testing.T) {
	cfg := load(t, tree)
	tests := []struct {
		name  string
		set   labels.Set
		want  []string // route ids
		teams []string
	}{
		{"no child matches: the root", labels.Set{"team": "cx-support"}, []string{"root"}, []string{"cx-support"}},
		{"nested match is the deepest", labels.Set{"team": "payments", "channel": "stripe"}, []string{"root.1.0"}, []string{"payments"}},
		{"first match stops siblings", labels.Set{"team": "payments", "channel": "shop"}, []string{"root.1"}, []string{"payments"}},
		{"continue goes on", labels.Set{"team": "payments", "severity": "critical", "channel": "stripe"}, []string{"root.0", "root.1.0"}, []string{"leads", "payments"}},
	}
	for _, tt := range tests {
		ts := cfg.Targets(tt.set, tt.set["team"])
		var ids, got []string
		for _, x := range ts {
			ids = append(ids, x.Route.ID)
			got = append(got, x.Team)
		}
		if len(ids) != len(tt.want) || (len(ids) > 0 && (ids[0] != tt.want[0] || ids[len(ids)-1] != tt.want[len(tt.want)-1])) {
			t.Errorf("%s: routes %v, want %v", tt.name, ids, tt.want)
		}
		if len(got) != len(tt.teams) || got[0] != tt.teams[0] || got[len(got)-1] != tt.teams[len(tt.teams)-1] {
			t.Errorf("%s: teams %v, want %v", tt.name, got, tt.teams)
		}
	}
	leaf := cfg.Root.Routes[1].Routes[0]
	if leaf.GroupWait != 30*time.Second || leaf.GroupInterval != 10*time.Minute || leaf.RepeatInterval != time.Hour ||
		len(leaf.GroupBy) != 2 || leaf.Receiver != "" {
		t.Errorf("leaf did not inherit: %+v", leaf)
	}
	if cfg.Root.GroupInterval != DefaultGroupInterval || cfg.Root.RepeatInterval != DefaultRepeatInterval {
		t.Errorf("root defaults: %+v", cfg.Root)
	}
}

func TestGroupKeys(t *testing.T) {
	cfg := load(t, tree)
	a := cfg.Targets(labels.Set{"team": "payments", "rule": "payment.failed", "customer": "1"}, "payments")[0]
	b := cfg.Targets(labels.Set{"team": "payments", "rule": "payment.failed", "customer": "2"}, "payments")[0]
	c := cfg.Targets(labels.Set{"team": "payments", "rule": "payment.disputed"}, "payments")[0]
	if a.Key != b.Key {
		t.Error("failures differing only outside group_by form two groups")
	}
	if a.Key == c.Key {
		t.Error("failures of two rules grouped by rule share a group")
	}
	if len(a.Key) > 200 || a.Labels["rule"] != "payment.failed" || a.Labels["team"] != "payments" {
		t.Errorf("target %+v", a)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	bad := `route:
  matchers: [team=x]
  receiver: nobody
  group_wait: soon
  routes:
    - matchers: ['team=~(']
      continue: maybe
      colour: red
inhibit_rules:
  - source_matchers: []
    target_matchers: [rule=x]
`
	_, err := Load(fstest.MapFS{File: {Data: []byte(bad)}}, File, teams)
	want := `routes.yaml:2: the root route matches every failure; it takes no matchers
routes.yaml:3: receiver "nobody" is not a team in teams.yaml
routes.yaml:4: group_wait "soon": want a duration of at least 0s, such as 5m
routes.yaml:8: unknown field "colour" in route (want matchers, receiver, group_by, group_wait, group_interval, repeat_interval, continue, routes, actions)
routes.yaml:6: matcher team=~"(": error parsing regexp: missing closing ): ` + "`^(?:()$`" + `
routes.yaml:7: continue must be true or false
routes.yaml:10: source_matchers must not be empty: it would match every failure`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestShippedRoutes(t *testing.T) {
	cfg, err := Load(config.Shipped, File, teams)
	if err != nil {
		t.Fatal(err)
	}
	bounce := labels.Set{"team": "digital", "rule": "email.bounced", "channel": "sendgrid", "severity": "warning"}
	ts := cfg.Targets(bounce, "digital")
	if len(ts) != 1 || ts[0].Labels["channel"] != "sendgrid" {
		t.Fatalf("a bounce is grouped by %+v, want by channel", ts)
	}
	if len(cfg.Inhibit) != 1 {
		t.Fatalf("%d inhibit rules", len(cfg.Inhibit))
	}
	// OCX watching its own intake: one group per channel, sent at once.
	intake := labels.Set{"team": "platform", "rule": "intake.signature_rejected", "channel": "app", "severity": "critical"}
	if ts := cfg.Targets(intake, "platform"); len(ts) != 1 || ts[0].Labels["channel"] != "app" || ts[0].Route.GroupWait != 0 {
		t.Fatalf("an intake failure is grouped by %+v, want by channel with no wait", ts)
	}
	if n := cfg.Count(); n != 4 {
		t.Fatalf("the shipped tree has %d routes, want the root and its three children", n)
	}
	def, err := Load(fstest.MapFS{}, File, teams)
	if err != nil || def.Count() != 1 {
		t.Fatalf("a missing file is the default tree of one route: %d, %v", def.Count(), err)
	}
}
