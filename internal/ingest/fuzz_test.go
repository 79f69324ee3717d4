package ingest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/sendgrid"
	"github.com/ocxhq/ocx/internal/channel/shopify"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/httpjson"
)

// FuzzWebhookEdge throws random bodies and headers, correctly signed, at
// three kinds of channel (the in-house one, a body-signed provider and a
// batching provider). Whatever arrives: no panic, never a 5xx (every
// dependency here works, so a 5xx could only be bad input misjudged as
// ours to retry), every error a JSON error body with its status, and every
// 202 names only events that were archived and published.
func FuzzWebhookEdge(f *testing.F) {
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	for _, seed := range []struct {
		ch, body, header, value string
	}{
		{"app", npsBody, "", ""},
		{"app", `[` + npsBody + `,` + npsBody + `]`, "", ""},
		{"app", appEvent("a.b", `{"id":"u1"}`, `{"x":`+deep+`}`), "", ""},
		{"app", appEvent("a."+strings.Repeat("b", 10000), `{"id":"u1"}`, ""), "", ""},
		{"app", appEvent("a.b", `{"email":"a@","phone":"+0","id":" "}`, ""), "", ""},
		{"app", `{"type":`, "Content-Type", "application/json"},
		{"app", `null`, "Content-Type", "text/xml"},
		{"shop", `{"id":820982911946154500,"email":"jon@example.com","created_at":"2021-12-31T19:00:00-05:00"}`, shopify.HeaderTopic, "orders/create"},
		{"shop", `{"id":1,"email":"jon@example.com"}`, shopify.HeaderTopic, "orders/cancelled"},
		{"shop", `{"id":1}`, shopify.HeaderTopic, strings.Repeat("x", 300)},
		{"grid", `[{"email":"a@example.com","timestamp":1700000000,"event":"delivered","sg_event_id":"e1","sg_message_id":"m1"},{"event":"unsubscribe"}]`, "", ""},
		{"grid", `[` + deep + `]`, "", ""},
	} {
		f.Add(seed.ch, []byte(seed.body), seed.header, seed.value)
	}
	kinds := map[string]channel.Kind{"app": standardwebhooks.Scheme{}, "shop": shopify.Scheme{}, "grid": sendgrid.Scheme{}}
	kindNames := map[string]string{"app": standardwebhooks.Kind, "shop": "shopify", "grid": "sendgrid"}
	f.Fuzz(func(t *testing.T, ch string, body []byte, header, value string) {
		kind, ok := kinds[ch]
		if !ok {
			ch, kind = "app", kinds["app"]
		}
		fx := newFixture()
		signer := kind.(channel.Signer)
		sign, verify := signer.DemoSecrets(ch)
		fx.svc.Channels = map[string]channel.Channel{ch: {Config: channel.Config{ID: ch, Kind: kindNames[ch]}, Kind: kind}}
		fx.svc.Secrets = secretsMap{channel.SecretName(ch): {verify}}

		req := channel.Request{Header: http.Header{}, Body: body, URL: "http://example.com/v1/webhooks/" + ch}
		req.Header.Set(standardwebhooks.HeaderID, "fuzz-1")
		if err := signer.Sign(&req, sign, now); err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("POST", "/v1/webhooks/"+ch, strings.NewReader(string(body)))
		r.Header = req.Header
		if header != "" && http.CanonicalHeaderKey(header) != "" && !strings.ContainsAny(header, "\r\n: ") && !strings.ContainsAny(value, "\r\n") {
			r.Header.Set(header, value)
		}
		w := serve(fx.svc, r)

		if w.Code >= 500 {
			t.Fatalf("%d for input: %s", w.Code, w.Body)
		}
		if w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("content type %q", w.Header().Get("Content-Type"))
		}
		if w.Code >= 400 {
			var e httpjson.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Status != w.Code || e.Error.Message == "" {
				t.Fatalf("error body %s for %d", w.Body, w.Code)
			}
			if len(fx.b.published) != 0 {
				t.Fatalf("%d answered, %d events published", w.Code, len(fx.b.published))
			}
			return
		}
		var acc Accepted
		if err := json.Unmarshal(w.Body.Bytes(), &acc); err != nil {
			t.Fatalf("accepted body %s: %v", w.Body, err)
		}
		if w.Code == http.StatusAccepted {
			if len(fx.a.objects) == 0 {
				t.Fatal("202 without an archived copy")
			}
			var published []string
			for _, e := range fx.b.published {
				ev := e.Detail.(events.Interaction)
				if ev.Customer.Empty() || len(ev.Type) > MaxTypeBytes {
					t.Fatalf("published an event the pipeline cannot keep: %+v", ev.Customer)
				}
				published = append(published, ev.ID)
			}
			for _, id := range acc.EventIDs {
				if !slices.Contains(published, id) {
					t.Fatalf("202 names %s, which was not published", id)
				}
			}
			if acc.Quarantined > 0 && len(fx.q.rows) == 0 {
				t.Fatal("202 says quarantined, but no bad row was kept")
			}
		}
	})
}
