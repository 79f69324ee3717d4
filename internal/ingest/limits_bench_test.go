package ingest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
)

// What the edge's checks cost on the largest bodies it accepts.

func BenchmarkJSONDepthOfAMebibyte(b *testing.B) {
	body := []byte(`[` + strings.Repeat(`{"a":{"b":["x","y\"z"]}},`, (MaxBody-2)/26) + `{}]`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if jsonDepth(body, MaxDepth) != 4 {
			b.Fatal("depth")
		}
	}
}

func BenchmarkScreenOfAThousandEvents(b *testing.B) {
	var d channel.Delivery
	for i := range MaxItems {
		d.Events = append(d.Events, channel.Draft{Type: "email.delivered", Customer: events.Customer{Email: fmt.Sprintf("U%d@Example.com", i), Phone: "+44 7946 000000"},
			Attributes: map[string]any{"sg_message_id": "m", "category": []any{"a", "b"}, "nested": map[string]any{"k": "v"}}})
	}
	for b.Loop() {
		if out, _, p := screen(d, false, MaxItems); p != nil || len(out.Events) != MaxItems {
			b.Fatal("screen")
		}
	}
}

func BenchmarkSlimAnEventOverAnEntry(b *testing.B) {
	attrs := map[string]any{"survey": "nps", "score": 3.0}
	for i := range 12 {
		attrs[fmt.Sprintf("note%02d", i)] = strings.Repeat("n", 30<<10)
	}
	ev := events.Interaction{ID: "evt_x", Type: "survey.responded", Channel: "app", Customer: events.Customer{ID: "u1"}, Attributes: attrs}
	for b.Loop() {
		if s := Slim(ev, "s3://b/k", claimAbove); s.ClaimCheck == "" {
			b.Fatal("slim")
		}
	}
}
