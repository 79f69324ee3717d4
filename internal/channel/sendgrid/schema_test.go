package sendgrid

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
)

// Every draft this kind makes from its fixtures, once ingest has given it
// an id and provenance, is valid against its type's schema in events/.
func TestDraftsMatchEventSchemas(t *testing.T) {
	schemas, err := events.Compile()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	n := 0
	for _, d := range fixtureDeliveries(t) {
		for _, e := range d.Events {
			s, ok := schemas[e.Type]
			if !ok {
				t.Errorf("no schema events/schemas/%s.json", e.Type)
				continue
			}
			at := e.OccurredAt
			if at.IsZero() {
				at = now
			}
			in := events.Interaction{
				ID: "evt_0123456789abcdef0123456789", Type: e.Type, Channel: "sendgrid", OccurredAt: at, ReceivedAt: now,
				Customer: e.Customer, Attributes: e.Attributes, DeliveryID: "sha256:0", Raw: "s3://ocx-test/raw/x.json",
			}
			b, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(doc); err != nil {
				t.Errorf("%s draft %s: %v", e.Type, e.ID, err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no drafts checked")
	}
}

func fixtureDeliveries(t *testing.T) []channel.Delivery {
	var out []channel.Delivery
	for _, name := range []string{"events.json", "vector.json"} {
		d, err := Scheme{}.Parse(channel.Request{Body: readFixture(t, name)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}
