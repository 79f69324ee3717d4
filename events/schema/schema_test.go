package schema

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ocxhq/ocx/events"
)

func validate(t *testing.T, s *jsonschema.Schema, b []byte) error {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return s.Validate(doc)
}

func TestSamplesMatchTheirSchemas(t *testing.T) {
	schemas, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	samples, _ := fs.Glob(events.Samples, "samples/*.json")
	if len(samples) == 0 {
		t.Fatal("no samples")
	}
	for _, n := range samples {
		name := strings.TrimSuffix(path.Base(n), ".json")
		s, ok := schemas[name]
		if !ok {
			t.Errorf("sample %s has no schema", n)
			continue
		}
		b, _ := events.Samples.ReadFile(n)
		if err := validate(t, s, b); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

// The Go types and the schemas describe the same JSON.
func TestGoTypesMatchSchemas(t *testing.T) {
	schemas, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	in := events.Interaction{
		ID: "evt_0123456789abcdef0123456789", Type: events.TypeSurveyResponded, Channel: "app",
		OccurredAt: at, ReceivedAt: at, Customer: events.Customer{Email: "a@b.c"},
		Attributes: map[string]any{"survey": "csat", "score": 4}, DeliveryID: "m", Raw: "s3://b/k",
	}
	b, _ := json.Marshal(in)
	if err := validate(t, schemas[events.TypeSurveyResponded], b); err != nil {
		t.Errorf("Interaction: %v", err)
	}
	f := events.Failure{
		ID: "flr_0123456789abcdef01234567", RuleID: "r", Description: "d", Severity: "critical", Team: "t",
		Labels: map[string]string{"a": "b"}, DetectedAt: at,
		Evidence: []events.Evidence{{EventID: in.ID, Type: in.Type, Channel: in.Channel, OccurredAt: at, Customer: in.Customer}},
	}
	b, _ = json.Marshal(f)
	if err := validate(t, schemas[events.TypeFailureDetected], b); err != nil {
		t.Errorf("Failure: %v", err)
	}
}

func TestSchemasRejectBadEvents(t *testing.T) {
	schemas, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"survey.responded": `{"id":"evt_0123456789abcdef0123456789","type":"survey.responded","channel":"app","occurred_at":"2026-11-23T08:00:00Z","received_at":"2026-11-23T08:00:00Z","customer":{"id":"1"},"attributes":{"survey":"nps","score":11},"delivery_id":"m","raw":"s3://b/k"}`,
		"interaction":      `{"id":"evt_0123456789abcdef0123456789","type":"x","channel":"app","occurred_at":"yesterday","received_at":"2026-11-23T08:00:00Z","customer":{},"attributes":{},"delivery_id":"m","raw":"s3://b/k"}`,
		"webhook.standard": `[]`,
		"failure.detected": `{"id":"flr_x","rule_id":"r"}`,
	}
	for name, doc := range bad {
		if err := validate(t, schemas[name], []byte(doc)); err == nil {
			t.Errorf("%s accepted %s", name, doc)
		}
	}
}

// The in-house schema takes the Standard Webhooks envelope as well as
// OCX's own format, alone or in an array, and refuses an envelope without
// its time.
func TestInHouseSchemaTakesTheEnvelope(t *testing.T) {
	schemas, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	s := schemas["webhook.standard"]
	env := `{"type":"checkout.completed","timestamp":"2026-11-23T08:12:00.123Z","data":{"user":{"id":"u-1001"}}}`
	own := `{"type":"order.created","occurred_at":"2026-11-23T08:12:00Z","customer":{"email":"ann@example.com"}}`
	for _, doc := range []string{env, "[" + env + "," + own + "]"} {
		if err := validate(t, s, []byte(doc)); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
	if err := validate(t, s, []byte(`{"type":"checkout.completed","data":{}}`)); err == nil {
		t.Error("an envelope without timestamp was accepted")
	}
}

func TestIntakeTallyMatchesItsSchema(t *testing.T) {
	schemas, err := Compile()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 8, 14, 0, 0, time.UTC)
	for _, tl := range []events.IntakeTally{
		{ID: "itl_0123456789abcdef0123456789", Channel: "app", OccurredAt: at, Instance: "i1", Accepted: 2, Events: 3, LastAcceptedAt: at.Add(5 * time.Second)},
		{ID: "itl_0123456789abcdef0123456789", Channel: "app", OccurredAt: at, Instance: "i1", RejectedSignature: 7},
	} {
		b, _ := json.Marshal(tl)
		if err := validate(t, schemas[events.TypeIntakeTallied], b); err != nil {
			t.Errorf("IntakeTally %s: %v", b, err)
		}
	}
}
