package ingest

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/emf"
)

// ignoring is a kind whose catalogue ignores two of a batch's three items
// on purpose and maps the third.
type ignoring struct{}

func (ignoring) Verify(channel.Request, []string, time.Time) error { return nil }

func (ignoring) Parse(req channel.Request) (channel.Delivery, error) {
	return channel.Delivery{ID: "d1",
		Events:  []channel.Draft{{ID: "i2", Type: "message.delivered", Customer: events.Customer{Phone: "+15550001111"}, Attributes: map[string]any{}}},
		Ignored: []channel.Ignored{{Index: 0, Type: "message.sent"}, {Index: 1, Type: "message.queued"}},
	}, nil
}

// Items ignored on purpose are answered 2xx, counted per channel and
// provider type as IgnoredItems, and never quarantined.
func TestIgnoredItemsAreCountedNotQuarantined(t *testing.T) {
	f := newFixture()
	var out bytes.Buffer
	f.svc.Metrics = emf.New(&out)
	f.svc.Channels["sms"] = channel.Channel{Config: channel.Config{ID: "sms", Kind: "test"}, Kind: ignoring{}}
	f.svc.Secrets = secretsMap{"channel/sms": {"s"}}
	w := serve(f.svc, httptest.NewRequest("POST", "/v1/webhooks/sms", strings.NewReader(`{}`)))
	var acc Accepted
	if w.Code != 202 || json.Unmarshal(w.Body.Bytes(), &acc) != nil || acc.Ignored != 2 || acc.Quarantined != 0 || len(acc.EventIDs) != 1 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(f.q.rows) != 0 {
		t.Fatalf("bad rows %+v", f.q.rows)
	}
	counted := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if n, ok := rec["IgnoredItems"].(float64); ok && rec["channel"] == "sms" {
			counted[rec["type"].(string)] += n
		}
	}
	if counted["message.sent"] != 1 || counted["message.queued"] != 1 || len(counted) != 2 {
		t.Fatalf("IgnoredItems %v\n%s", counted, out.String())
	}
}
