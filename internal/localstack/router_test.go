package localstack

import (
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/topology"
)

// The router sends each envelope to the functions whose bus rules match
// it, each once, as EventBridge does; the outbound function only what the
// shipped subscription wants, and replay commands.
func TestRouterTargets(t *testing.T) {
	rules, err := busRules(Config{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRouter("bus", rules, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		source, detailType string
		want, not          []string
	}{
		{events.SourceIngest, "email.sent", []string{topology.Journey, topology.Rules, topology.Rollup}, []string{topology.Notify, topology.Outbound}},
		{events.SourceRules, events.TypeFailureDetected, []string{topology.Notify, topology.Rollup, topology.Outbound}, []string{topology.Journey, topology.Rules}},
		{events.SourceRules, "failure.unheard-of", []string{topology.Rollup}, []string{topology.Notify, topology.Outbound}},
		{events.SourceJourney, events.TypeJourneyStarted, []string{topology.Rules, topology.Rollup}, []string{topology.Outbound}},
		{events.SourceOutbound, events.TypeOutboundReplay, []string{topology.Outbound}, []string{topology.Rules, topology.Rollup}},
		{"someone.else", "email.sent", nil, []string{topology.Journey, topology.Rules, topology.Notify, topology.Rollup, topology.Outbound}},
	}
	for _, c := range cases {
		env, err := json.Marshal(lambdaevents.CloudWatchEvent{Version: "0", ID: "e1", Source: c.source, DetailType: c.detailType,
			AccountID: Account, Region: Region, Resources: []string{}, Detail: json.RawMessage(`{"n":1e+21}`)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Targets(env)
		if err != nil {
			t.Fatalf("%s %s: %v", c.source, c.detailType, err)
		}
		for _, w := range c.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s %s: routed to %v, want %s among them", c.source, c.detailType, got, w)
			}
		}
		for _, n := range c.not {
			if slices.Contains(got, n) {
				t.Errorf("%s %s: routed to %v, want no %s", c.source, c.detailType, got, n)
			}
		}
		seen := map[string]bool{}
		for _, g := range got {
			if seen[g] {
				t.Errorf("%s %s: routed to %v, %s twice", c.source, c.detailType, got, g)
			}
			seen[g] = true
		}
	}
	if _, err := r.Targets([]byte(`{"source":`)); err == nil {
		t.Error("a broken envelope was routed")
	}
}
