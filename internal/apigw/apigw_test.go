package apigw_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/internal/apigw"
)

func load[T any](t *testing.T, name string) T {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// The example event of AWS's payload format 2.0 documentation.
func TestDocumentedEvent(t *testing.T) {
	ev := load[events.APIGatewayV2HTTPRequest](t, "documented-event.json")
	r, err := apigw.Request(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != "POST" || r.URL.Path != "/my/path" {
		t.Errorf("request line = %s %s", r.Method, r.URL.Path)
	}
	if got := r.URL.Query()["parameter1"]; len(got) != 2 || got[0] != "value1" || got[1] != "value2" {
		t.Errorf("repeated query parameter = %q, want both values from rawQueryString", got)
	}
	if got := r.Header.Values("Header2"); len(got) != 1 || got[0] != "value1,value2" {
		t.Errorf("joined header = %q, want the one value API Gateway delivered", got)
	}
	if got := r.Header.Get("Cookie"); got != "cookie1; cookie2" {
		t.Errorf("Cookie = %q", got)
	}
	if c, err := r.Cookie("cookie2"); err != nil || c.Name != "cookie2" {
		t.Errorf("cookie2: %v", err)
	}
	body, _ := io.ReadAll(r.Body)
	if string(body) != "Hello from Lambda" || r.ContentLength != int64(len(body)) {
		t.Errorf("body = %q (length %d)", body, r.ContentLength)
	}
	if r.RemoteAddr != "192.0.2.1:0" || r.Host != "id.execute-api.us-east-1.amazonaws.com" {
		t.Errorf("remote %q host %q", r.RemoteAddr, r.Host)
	}
	if r.PathValue("parameter1") != "value1" {
		t.Errorf("path parameter = %q", r.PathValue("parameter1"))
	}
	rc, ok := apigw.RequestContext(r.Context())
	if !ok || rc.RequestID != "id" || rc.Authorizer == nil || rc.Authorizer.JWT.Claims["claim1"] != "value1" {
		t.Errorf("request context = %+v (%v)", rc, ok)
	}
	if r.Header.Get(apigw.RequestIDHeader) != "id" {
		t.Errorf("request id header = %q", r.Header.Get(apigw.RequestIDHeader))
	}
}

// The example response of the same documentation, written to a client.
func TestDocumentedResponse(t *testing.T) {
	resp := load[events.APIGatewayV2HTTPResponse](t, "documented-response.json")
	w := httptest.NewRecorder()
	if err := apigw.Write(w, resp); err != nil {
		t.Fatal(err)
	}
	if w.Code != 201 || w.Body.String() != "Hello from Lambda!" {
		t.Errorf("got %d %q", w.Code, w.Body.String())
	}
	if got := w.Result().Header.Values("Set-Cookie"); len(got) != 2 || got[1] != "cookie2" {
		t.Errorf("Set-Cookie = %q", got)
	}
	if w.Header().Get("Headername") != "headervalue" {
		t.Errorf("header = %q", w.Header().Get("Headername"))
	}
}

// Every channel kind's signature header, with the commas and spaces their
// providers put in them, reaches the handler byte for byte.
func TestSignatureHeadersKeepTheirCommas(t *testing.T) {
	headers := map[string]string{
		"stripe-signature":                       "t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
		"webhook-signature":                      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,bm9ldHUzMjFhc2RmYXNkZmFzZGZhc2RmYXNkZg==",
		"x-shopify-hmac-sha256":                  "XWmrwMey6OsLMeiZKwP4FppHH3cmAiiJJAweH5Jo4bM=",
		"x-zendesk-webhook-signature":            "EiqWE3SXTPQpPulBV6OSuuGziIishZNc1VwNZYqZrHU=",
		"x-hub-signature":                        "sha1=d0d8fb5a4ab2e1a1e4f4b2d6c0f5ba1b7c1a4f0e",
		"x-twilio-email-event-webhook-signature": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==",
		"x-twilio-signature":                     "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
		"typeform-signature":                     "sha256=nPKvc7PbCC1S7s6A8A0Q0Z2r1CQrO4Ig9XGQbuXzhM4=",
		"x-delighted-webhook-signature":          "sha256=6d4a2bf56ef5bbea3cdf4b4f6c9a8d6bea1ec7dbe0ba5ee8d5c5bf9e8c2c26d0",
		"accept":                                 "application/json, text/plain;q=0.9, */*;q=0.1",
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/v1/webhooks/stripe", Headers: headers, Body: "{}",
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/v1/webhooks/stripe"}},
	}
	var seen http.Header
	h := apigw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.WriteHeader(http.StatusAccepted)
	}))
	resp, err := h(context.Background(), ev)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	for k, want := range headers {
		if got := seen.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// API Gateway base64-encodes bodies it does not consider text, a form
// post among them (Twilio).
func TestBase64Bodies(t *testing.T) {
	form := "AccountSid=AC123&MessageSid=SM456&MessageStatus=delivered&To=%2B14155550100"
	for _, tc := range []struct {
		contentType string
		base64      bool
	}{
		{"application/x-www-form-urlencoded", true},
		{"", true},
		{"application/octet-stream", true},
		{"application/json", false},
		{"application/json; charset=utf-8", false},
		{"text/plain", false},
		{"application/xml", false},
		{"application/cloudevents+json", false},
	} {
		r := httptest.NewRequest("POST", "/v1/webhooks/twilio?x=1", strings.NewReader(form))
		if tc.contentType != "" {
			r.Header.Set("Content-Type", tc.contentType)
		}
		ev := apigw.Event(r, []byte(form), apigw.EventOptions{RouteKey: "POST /v1/webhooks/{channel}", RequestID: "abc", SourceIP: "203.0.113.9"})
		if ev.IsBase64Encoded != tc.base64 {
			t.Errorf("%q: isBase64Encoded = %v, want %v", tc.contentType, ev.IsBase64Encoded, tc.base64)
		}
		back, err := apigw.Request(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(back.Body)
		if string(got) != form {
			t.Errorf("%q: body = %q", tc.contentType, got)
		}
		if tc.contentType == "application/x-www-form-urlencoded" {
			back, _ = apigw.Request(context.Background(), ev)
			if err := back.ParseForm(); err != nil || back.PostForm.Get("MessageStatus") != "delivered" {
				t.Errorf("form: %v %v", back.PostForm, err)
			}
		}
	}
	bad := events.APIGatewayV2HTTPRequest{Body: "%%%", IsBase64Encoded: true,
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}}}
	resp, err := apigw.Handler(http.NotFoundHandler())(context.Background(), bad)
	if err != nil || resp.StatusCode != 400 || !strings.Contains(resp.Body, "base64") {
		t.Errorf("undecodable body: %+v %v", resp, err)
	}
	// A path that is not absolute (API Gateway never sends one) is a clear
	// 400, not net/http's bodiless answer to "*".
	for _, path := range []string{"*", "v1/webhooks/app"} {
		rel := events.APIGatewayV2HTTPRequest{RawPath: path,
			RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}}}
		resp, err := apigw.Handler(http.NotFoundHandler())(context.Background(), rel)
		if err != nil || resp.StatusCode != 400 || !strings.Contains(resp.Body, "not absolute") {
			t.Errorf("path %q: %+v %v", path, resp, err)
		}
	}
}

// What API Gateway adds and how it joins repeated headers.
func TestEventAsAPIGatewayBuildsIt(t *testing.T) {
	r := httptest.NewRequest("GET", "http://127.0.0.1:8080/v1/metrics/nps?granularity=hour&team=a&team=b", nil)
	r.Header.Add("X-Custom", "one")
	r.Header.Add("X-Custom", "two")
	r.Header.Add("Cookie", "a=1; b=2")
	r.Header.Set("User-Agent", "curl/8")
	ev := apigw.Event(r, nil, apigw.EventOptions{RouteKey: "GET /v1/metrics/{name}", PathParameters: map[string]string{"name": "nps"},
		RequestID: "0f0e0d0c-0b0a-0908-0706-050403020100", SourceIP: "127.0.0.1", Stage: "$default", TimeEpochMillis: 1583348638390})
	if ev.Headers["x-custom"] != "one,two" {
		t.Errorf("x-custom = %q", ev.Headers["x-custom"])
	}
	if _, ok := ev.Headers["cookie"]; ok || len(ev.Cookies) != 2 || ev.Cookies[1] != "b=2" {
		t.Errorf("cookies = %q headers %v", ev.Cookies, ev.Headers)
	}
	if ev.QueryStringParameters["team"] != "a,b" || ev.RawQueryString != "granularity=hour&team=a&team=b" {
		t.Errorf("query = %v %q", ev.QueryStringParameters, ev.RawQueryString)
	}
	if ev.Headers["x-forwarded-for"] != "127.0.0.1" || ev.Headers["x-forwarded-proto"] != "http" || ev.Headers["x-forwarded-port"] != "8080" {
		t.Errorf("forwarding headers = %v", ev.Headers)
	}
	if ev.RequestContext.Time != "04/Mar/2020:19:03:58 +0000" || ev.RequestContext.HTTP.UserAgent != "curl/8" || ev.RequestContext.DomainName != "127.0.0.1" {
		t.Errorf("request context = %+v", ev.RequestContext)
	}
	if ev.Body != "" || ev.IsBase64Encoded {
		t.Errorf("empty body encoded: %+v", ev)
	}
}

func TestResponses(t *testing.T) {
	png := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13}
	for _, tc := range []struct {
		name    string
		h       http.HandlerFunc
		status  int
		base64  bool
		cookies int
	}{
		{"json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(202)
			_, _ = io.WriteString(w, `{"event_ids":["evt_1"]}`)
		}, 202, false, 0},
		{"binary", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			_, _ = w.Write(png)
		}, 200, true, 0},
		{"sniffed", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(png) }, 200, true, 0},
		{"cookies", func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
			http.SetCookie(w, &http.Cookie{Name: "b", Value: "2", HttpOnly: true})
			w.Header().Add("Vary", "Accept")
			w.Header().Add("Vary", "Authorization")
			w.WriteHeader(204)
		}, 204, false, 2},
		{"empty", func(w http.ResponseWriter, r *http.Request) {}, 200, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := events.APIGatewayV2HTTPRequest{RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/"}}}
			resp, err := apigw.Handler(tc.h)(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || resp.IsBase64Encoded != tc.base64 || len(resp.Cookies) != tc.cookies {
				t.Fatalf("resp = %+v", resp)
			}
			// And back to a client, as API Gateway writes it.
			raw, _ := json.Marshal(resp)
			var decoded events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(raw, &decoded); err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			if err := apigw.Write(w, decoded); err != nil {
				t.Fatal(err)
			}
			want := httptest.NewRecorder()
			tc.h(want, httptest.NewRequest("GET", "/", nil))
			if !bytes.Equal(w.Body.Bytes(), want.Body.Bytes()) || w.Code != want.Code {
				t.Errorf("client sees %d %q, want %d %q", w.Code, w.Body.Bytes(), want.Code, want.Body.Bytes())
			}
			if tc.name == "cookies" && w.Header().Get("Vary") != "Accept,Authorization" {
				t.Errorf("Vary = %q", w.Header().Get("Vary"))
			}
			if tc.name == "binary" && w.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control = %q", w.Header().Get("Cache-Control"))
			}
		})
	}
}

// A request API Gateway builds and a handler reads back is the request
// the client sent: method, path, query, body and every single-valued header.
func FuzzRoundTrip(f *testing.F) {
	f.Add("POST", "/v1/webhooks/stripe", "a=1&b=%20", "t=1,v1=abc,v1=def", "application/json", []byte(`{"id":"evt_1"}`))
	f.Add("POST", "/v1/webhooks/twilio", "", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "application/x-www-form-urlencoded", []byte("Body=hi%2C+there&To=%2B1"))
	f.Add("GET", "/v1/customers/cus_1", "key=email%3Aann%40example.com", "", "", []byte(nil))
	f.Add("PUT", "/a%2Fb/c", "x", "v1,Zm9v v1,YmFy", "image/png", []byte{0, 1, 2, 255})
	f.Fuzz(func(t *testing.T, method, path, query, sig, contentType string, body []byte) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") || !validHeaderValue(path+query) || strings.ContainsAny(path+query, " #?") || !validHeaderValue(sig) || !validHeaderValue(contentType) {
			return
		}
		target := "http://api.example.com" + path
		if query != "" {
			target += "?" + query
		}
		u, err := url.Parse(target)
		if err != nil || u.RawQuery != query {
			return
		}
		r := httptest.NewRequest(method, target, bytes.NewReader(body))
		if sig != "" {
			r.Header.Set("Stripe-Signature", sig)
		}
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		ev := apigw.Event(r, body, apigw.EventOptions{RouteKey: "$default", RequestID: "req-1", SourceIP: "198.51.100.7"})
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var decoded events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &decoded); err != nil {
			t.Fatal(err)
		}
		back, err := apigw.Request(context.Background(), decoded)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(back.Body)
		if back.Method != method || back.URL.EscapedPath() != u.EscapedPath() || back.URL.RawQuery != query || !bytes.Equal(got, body) {
			t.Fatalf("round trip: %s %s?%s %q, want %s %s?%s %q", back.Method, back.URL.EscapedPath(), back.URL.RawQuery, got, method, u.EscapedPath(), query, body)
		}
		if back.Header.Get("Stripe-Signature") != sig || back.Header.Get("Content-Type") != contentType {
			t.Fatalf("headers: %q %q", back.Header.Get("Stripe-Signature"), back.Header.Get("Content-Type"))
		}
		if len(body) > 0 && decoded.IsBase64Encoded {
			if _, err := base64.StdEncoding.DecodeString(decoded.Body); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func validMethod(m string) bool {
	switch m {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS":
		return true
	}
	return false
}

func validHeaderValue(v string) bool {
	if v != strings.TrimSpace(v) {
		return false
	}
	for _, c := range v {
		if c < ' ' || c == 0x7f || c > 0x7e {
			return false
		}
	}
	return true
}
