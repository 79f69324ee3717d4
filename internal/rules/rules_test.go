package rules

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/bus"
)

func TestShippedRulesLoad(t *testing.T) {
	rs, err := Load(config.Shipped, "rules", []string{"cx-support"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 {
		t.Fatal("no shipped rules")
	}
}

func TestLoadReportsFileAndLine(t *testing.T) {
	fsys := fstest.MapFS{"rules/bad.yaml": {Data: []byte(`rules:
  - id: a
    kind: match
    description: fine
    severity: warning
    team: cx
    pattern: {"source": ["x"]}
  - id: a
    kind: sequence
    description: dup and unknown kind
    severity: loud
    team: nobody
    pattern: {"source": "not-a-list"}
`)}}
	_, err := Load(fsys, "rules", []string{"cx"})
	if err == nil {
		t.Fatal("bad rules loaded")
	}
	for _, want := range []string{
		`rules/bad.yaml:9: rule "a": unknown kind "sequence"`,
		`rules/bad.yaml:11: rule "a": severity "loud"`,
		`rules/bad.yaml:12: rule "a": unknown team "nobody"`,
		`rules/bad.yaml:13: rule "a": invalid event pattern`,
		`rules/bad.yaml:8: rule id "a" already defined at rules/bad.yaml:2`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func envelope(t *testing.T, source, detailType string, detail any) lambdaevents.CloudWatchEvent {
	b, err := json.Marshal(detail)
	if err != nil {
		t.Fatal(err)
	}
	return lambdaevents.CloudWatchEvent{Version: "0", ID: "env-1", Source: source, DetailType: detailType, Time: time.Now(), Detail: b, Resources: []string{}}
}

func npsEvent(score float64) events.Interaction {
	return events.Interaction{ID: "evt_1", Type: events.TypeSurveyResponded, Channel: "app", OccurredAt: time.Now(),
		Customer: events.Customer{ID: "u1"}, Attributes: map[string]any{"survey": "nps", "score": score}}
}

func TestNPSDetractorRule(t *testing.T) {
	rs, err := Load(config.Shipped, "rules", []string{"cx-support"})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(rs)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		ev    any
		dt    string
		match bool
	}{
		{"0", npsEvent(0), events.TypeSurveyResponded, true},
		{"6 is the last detractor", npsEvent(6), events.TypeSurveyResponded, true},
		{"7 is passive", npsEvent(7), events.TypeSurveyResponded, false},
		{"10", npsEvent(10), events.TypeSurveyResponded, false},
		{"csat 3 is not nps", events.Interaction{ID: "e", Attributes: map[string]any{"survey": "csat", "score": 3.0}}, events.TypeSurveyResponded, false},
		{"other type", npsEvent(3), "order.created", false},
	}
	for _, c := range cases {
		raw, _ := json.Marshal(envelope(t, events.SourceIngest, c.dt, c.ev))
		got, err := eng.Match(raw)
		if err != nil {
			t.Fatal(err)
		}
		if (len(got) == 1 && got[0].ID == "nps.detractor") != c.match {
			t.Errorf("%s: matched %v, want %v", c.name, got, c.match)
		}
	}
}

type memStore struct {
	created   map[string]events.Failure
	published map[string]bool
}

func (m *memStore) Create(_ context.Context, f events.Failure) (bool, bool, error) {
	if _, ok := m.created[f.ID]; ok {
		return false, m.published[f.ID], nil
	}
	m.created[f.ID] = f
	return true, false, nil
}

func (m *memStore) MarkPublished(_ context.Context, id string) error {
	m.published[id] = true
	return nil
}

type memBus struct{ evs []bus.Event }

func (b *memBus) Publish(_ context.Context, evs ...bus.Event) error {
	b.evs = append(b.evs, evs...)
	return nil
}

func TestHandlePublishesEachFailureOnce(t *testing.T) {
	rs, _ := Load(config.Shipped, "rules", []string{"cx-support"})
	eng, _ := NewEngine(rs)
	st := &memStore{created: map[string]events.Failure{}, published: map[string]bool{}}
	b := &memBus{}
	svc := &Service{Engine: eng, Store: st, Bus: b, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	env := envelope(t, events.SourceIngest, events.TypeSurveyResponded, npsEvent(3))
	for range 3 { // Lambda retries
		if err := svc.Handle(context.Background(), env); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.evs) != 1 || b.evs[0].DetailType != events.TypeFailureDetected || b.evs[0].Source != events.SourceRules {
		t.Fatalf("published %+v, want one failure.detected", b.evs)
	}
	f := b.evs[0].Detail.(events.Failure)
	if f.RuleID != "nps.detractor" || f.Team != "cx-support" || f.CustomerID != "u1" || len(f.Evidence) != 1 || f.Evidence[0].EventID != "evt_1" || f.Labels["channel"] != "app" {
		t.Fatalf("failure %+v", f)
	}
	if err := svc.Handle(context.Background(), envelope(t, events.SourceIngest, events.TypeSurveyResponded, npsEvent(9))); err != nil || len(b.evs) != 1 {
		t.Fatalf("a promoter raised a failure: %v %d", err, len(b.evs))
	}
}
