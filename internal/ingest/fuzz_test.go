package ingest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/apigw"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/sendgrid"
	"github.com/ocxhq/ocx/internal/channel/shopify"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpdeadline"
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

// FuzzWebhookThroughAPIGateway sends the same kind of input as
// FuzzWebhookEdge the way the ingest function receives it in AWS: an API
// Gateway 2.0 event (headers joined into one value each, a body that may be
// base64, a path of any shape) through the Lambda adapter and the request
// deadline. The same promises hold.
func FuzzWebhookThroughAPIGateway(f *testing.F) {
	f.Add("app", []byte(npsBody), false, "/v1/webhooks/app", "x-extra", "1")
	f.Add("app", []byte(npsBody), true, "/v1/webhooks/app", "content-type", "application/json; charset=utf-8")
	f.Add("shop", []byte(`{"id":1,"email":"a@b.c","created_at":"2021-12-31T19:00:00-05:00"}`), false, "/v1/webhooks/shop", shopify.HeaderTopic, "orders/create")
	f.Add("grid", []byte(`[{"email":"a@example.com","timestamp":1,"event":"delivered","sg_event_id":"e"}]`), true, "/v1/webhooks/grid/", "webhook-id", "")
	f.Add("app", []byte("%%%"), true, "/v1/webhooks/%2e%2e/app", "content-length", "99")
	kinds := map[string]channel.Kind{"app": standardwebhooks.Scheme{}, "shop": shopify.Scheme{}, "grid": sendgrid.Scheme{}}
	kindNames := map[string]string{"app": standardwebhooks.Kind, "shop": "shopify", "grid": "sendgrid"}
	f.Fuzz(func(t *testing.T, ch string, body []byte, b64 bool, path, header, value string) {
		kind, ok := kinds[ch]
		if !ok {
			ch, kind = "app", kinds["app"]
		}
		fx := newFixture()
		signer := kind.(channel.Signer)
		sign, verify := signer.DemoSecrets(ch)
		fx.svc.Channels = map[string]channel.Channel{ch: {Config: channel.Config{ID: ch, Kind: kindNames[ch]}, Kind: kind}}
		fx.svc.Secrets = secretsMap{channel.SecretName(ch): {verify}}
		req := channel.Request{Header: http.Header{}, Body: body, URL: "https://hooks.example.com/v1/webhooks/" + ch}
		req.Header.Set(standardwebhooks.HeaderID, "fuzz-2")
		if err := signer.Sign(&req, sign, now); err != nil {
			t.Fatal(err)
		}
		headers := map[string]string{}
		for k, v := range req.Header {
			headers[strings.ToLower(k)] = strings.Join(v, ",")
		}
		if header != "" {
			headers[strings.ToLower(header)] = value
		}
		ev := lambdaevents.APIGatewayV2HTTPRequest{
			RawPath: path, Headers: headers, Body: string(body),
			RequestContext: lambdaevents.APIGatewayV2HTTPRequestContext{
				DomainName: "hooks.example.com", RequestID: "r1",
				HTTP: lambdaevents.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.9"},
			},
		}
		if b64 {
			ev.IsBase64Encoded, ev.Body = true, base64.StdEncoding.EncodeToString(body)
		}
		mux := http.NewServeMux()
		Routes(mux, fx.svc, &Replayer{Channels: fx.svc.Channels, Quarantine: fx.q, Bus: fx.b, Now: fx.svc.Now}, httpauth.Guard{Token: "t"})
		resp, err := apigw.Handler(httpdeadline.Wrap(mux, 5*time.Second))(t.Context(), ev)
		if err != nil {
			t.Fatalf("invocation failed: %v", err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("%d for input: %s", resp.StatusCode, resp.Body)
		}
		if resp.StatusCode >= 400 {
			var e httpjson.ErrorBody
			if resp.StatusCode != 404 || strings.HasPrefix(resp.Body, "{") {
				if err := json.Unmarshal([]byte(resp.Body), &e); err != nil || e.Error.Status != resp.StatusCode {
					t.Fatalf("error body %q for %d", resp.Body, resp.StatusCode)
				}
			}
			if len(fx.b.published) != 0 {
				t.Fatalf("%d answered, %d events published", resp.StatusCode, len(fx.b.published))
			}
			return
		}
		if resp.StatusCode == http.StatusAccepted {
			var acc Accepted
			if err := json.Unmarshal([]byte(resp.Body), &acc); err != nil {
				t.Fatalf("accepted body %q: %v", resp.Body, err)
			}
			var published []string
			for _, e := range fx.b.published {
				published = append(published, e.Detail.(events.Interaction).ID)
			}
			for _, id := range acc.EventIDs {
				if !slices.Contains(published, id) {
					t.Fatalf("202 names %s, which was not published", id)
				}
			}
		}
	})
}
