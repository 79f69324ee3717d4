package zendesk

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/ingest"
)

const (
	// testSecret is the signing secret Zendesk documents for test requests
	// sent before a webhook exists ("this_secret_is_for_testing_only" in
	// base64, used as-is as the HMAC key).
	testSecret = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
	other      = "HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA="
	ts         = "2025-01-08T14:25:31Z"
)

var at, _ = time.Parse(time.RFC3339, ts)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func request(sig, ts string, body []byte) channel.Request {
	h := http.Header{}
	h.Set(HeaderWebhookID, "01F1KRFQ6BG29CNWFR60NK5FNY")
	h.Set(HeaderInvocationID, "8350205582")
	h.Set(HeaderAccountID, "22129848")
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	if ts != "" {
		h.Set(HeaderTimestamp, ts)
	}
	return channel.Request{Header: h, Body: body}
}

func TestRegistered(t *testing.T) {
	f, ok := channel.Lookup(Kind)
	if !ok {
		t.Fatal("zendesk kind not registered")
	}
	if _, err := f(nil); err != nil {
		t.Fatalf("no options: %v", err)
	}
	if _, err := f(channel.Options{"subdomain": "acme"}); err == nil {
		t.Fatal("an unknown option was accepted")
	}
}

// Zendesk publishes no current vector. This one was computed outside Go, with
//
//	printf %s%s "$ts" "$body" | openssl dgst -sha256 -hmac "$testSecret" -binary | base64
func TestSignVector(t *testing.T) {
	const want = "HVfgMOBNI479imj9CkNWqW3z3dXLnI2i5rB71w0ERQ0="
	body := []byte(`{"type":"zen:event-type:ticket.created"}`)
	if got := Sign(testSecret, ts, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if err := (Scheme{}).Verify(request(want, ts, body), []string{testSecret}, at); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// An earlier revision of Zendesk's "Verifying webhook authenticity" page
// published secret HRkRd4…zeA=, body {"say": "hello"}, timestamp
// 2021-07-25T10:00:00Z and signature tRDSF7…teMw=. That signature is over
// body+timestamp, as that revision's formula said; today's page, its
// example code and every implementation found sign timestamp+body. OCX
// follows today's page, so the old vector must not verify.
func TestLegacyPublishedVector(t *testing.T) {
	const (
		body = `{"say": "hello"}`
		ts   = "2021-07-25T10:00:00Z"
		sig  = "tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw="
	)
	if got := Sign(other, "", []byte(body+ts)); got != sig {
		t.Fatalf("the legacy vector is not HMAC(body+timestamp): %s", got)
	}
	now, _ := time.Parse(time.RFC3339, ts)
	if err := (Scheme{}).Verify(request(sig, ts, []byte(body)), []string{other}, now); !errors.Is(err, channel.ErrSignature) {
		t.Fatalf("Verify accepted a body+timestamp signature: %v", err)
	}
	if err := (Scheme{}).Verify(request(Sign(other, ts, []byte(body)), ts, []byte(body)), []string{other}, now); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// The Signer the local stack and ocx sign use produces requests Verify accepts.
func TestSigner(t *testing.T) {
	sign, verify := Scheme{}.DemoSecrets("local-zendesk")
	if again, _ := (Scheme{}).DemoSecrets("local-zendesk"); again != sign || sign != verify {
		t.Fatalf("demo secrets are not fixed and shared: %q %q %q", sign, again, verify)
	}
	otherSign, _ := Scheme{}.DemoSecrets("local-elsewhere")
	now := time.Now()
	req := request("", "", fixture(t, "ticket.created.json"))
	if err := (Scheme{}).Sign(&req, sign, now); err != nil {
		t.Fatal(err)
	}
	if err := (Scheme{}).Verify(req, []string{verify}, now); err != nil {
		t.Fatalf("Verify rejects Sign: %v", err)
	}
	if err := (Scheme{}).Verify(req, []string{otherSign}, now); !errors.Is(err, channel.ErrSignature) {
		t.Fatalf("another channel's secret verifies: %v", err)
	}
}

func TestVerify(t *testing.T) {
	body := fixture(t, "ticket.status_changed.json")
	good := Sign(testSecret, ts, body)
	cases := []struct {
		name    string
		req     channel.Request
		secrets []string
		now     time.Time
		want    error
	}{
		{"valid", request(good, ts, body), []string{testSecret}, at, nil},
		{"rotated: old and new secrets active", request(good, ts, body), []string{other, testSecret}, at, nil},
		{"tampered body", request(good, ts, []byte(strings.Replace(string(body), "PENDING", "SOLVED", 1))), []string{testSecret}, at, channel.ErrSignature},
		{"tampered timestamp", request(good, "2025-01-08T14:25:32Z", body), []string{testSecret}, at, channel.ErrSignature},
		{"timestamp reformatted", request(good, "2025-01-08T15:25:31+01:00", body), []string{testSecret}, at, channel.ErrSignature},
		{"wrong secret", request(good, ts, body), []string{other}, at, channel.ErrSignature},
		{"no secrets", request(good, ts, body), nil, at, channel.ErrSignature},
		{"missing signature", request("", ts, body), []string{testSecret}, at, channel.ErrSignature},
		{"missing timestamp", request(good, "", body), []string{testSecret}, at, channel.ErrSignature},
		{"unix timestamp", request(good, "1736346331", body), []string{testSecret}, at, channel.ErrSignature},
		{"not base64", request("!!", ts, body), []string{testSecret}, at, channel.ErrSignature},
		{"just inside tolerance", request(good, ts, body), []string{testSecret}, at.Add(Tolerance), nil},
		{"stale", request(good, ts, body), []string{testSecret}, at.Add(Tolerance + time.Second), channel.ErrStale},
		{"from the future", request(good, ts, body), []string{testSecret}, at.Add(-Tolerance - time.Second), channel.ErrStale},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Scheme{}.Verify(c.req, c.secrets, c.now)
			if c.want == nil && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			if err != nil && (strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), other)) {
				t.Fatalf("error echoes a secret: %v", err)
			}
		})
	}
}

func TestParseFixtures(t *testing.T) {
	base := map[string]any{"ticket_id": "5158", "priority": "high", "ticket_type": "problem", "via_channel": "web_service",
		"assignee_id": "8447388090494", "group_id": "8447320466430", "brand_id": "8447346621310",
		"organization_id": "8447346622462", "account_id": "22129848", "tags": []string{"mobile", "login"}}
	cases := []struct {
		file, typ, id, at string
		attrs             map[string]any
	}{
		{"ticket.created.json", TypeCreated, "cbe4028c-7239-495d-b020-f22348516046", "2025-01-08T10:12:07.67271703Z",
			map[string]any{"provider_event": EventTicketCreated, "status": "open"}},
		{"ticket.status_changed.json", TypeStatusChanged, "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4", "2025-01-08T14:25:31.0045123Z",
			map[string]any{"provider_event": EventStatusChanged, "status": "pending", "previous_status": "open"}},
		{"ticket.status_changed.solved.json", TypeSolved, "a8b9c1d2-3e4f-5a6b-7c8d-9e0f1a2b3c4d", "2025-01-08T16:45:20.987654321Z",
			map[string]any{"provider_event": EventStatusChanged, "status": "solved", "previous_status": "open"}},
		{"ticket.comment_added.json", TypeReplied, "d4f5c389-8f4a-4c2e-a1b9-8e4f39c71d52", "2025-01-08T14:25:30.123456789Z",
			map[string]any{"provider_event": EventCommentAdded, "status": "open", "author": "agent", "public": true, "comment_id": "9876543210", "author_id": "8447388090494"}},
		{"ticket.comment_added.customer.json", TypeReplied, "7c0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f", "2025-01-09T08:02:11.5Z",
			map[string]any{"provider_event": EventCommentAdded, "status": "open", "author": "customer", "public": true, "comment_id": "9876543299", "author_id": "8447388090495"}},
	}
	schemas, err := events.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			d, err := Scheme{}.Parse(request("", "", fixture(t, c.file)))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Events) != 1 || len(d.Rejects) != 0 {
				t.Fatalf("events %d, rejects %+v", len(d.Events), d.Rejects)
			}
			e := d.Events[0]
			if d.ID != "8350205582" || e.ID != c.id || e.Type != c.typ {
				t.Errorf("delivery %q, draft %q %q; want 8350205582, %q %q", d.ID, e.ID, e.Type, c.id, c.typ)
			}
			if e.Customer != (events.Customer{ID: "8447388090495"}) {
				t.Errorf("customer %+v", e.Customer)
			}
			if got := e.OccurredAt.Format(time.RFC3339Nano); got != c.at || e.OccurredAt.Location() != time.UTC {
				t.Errorf("occurred_at %s, want %s", got, c.at)
			}
			want := map[string]any{"zendesk_event_id": c.id}
			for k, v := range base {
				want[k] = v
			}
			for k, v := range c.attrs {
				want[k] = v
			}
			if !reflect.DeepEqual(e.Attributes, want) {
				t.Errorf("attributes\n got %#v\nwant %#v", e.Attributes, want)
			}
			for _, in := range ingest.Canonical("support", d, "s3://archive/raw/support/x.json", time.Unix(1736400000, 0)) {
				b, _ := json.Marshal(in)
				var doc any
				_ = json.Unmarshal(b, &doc)
				if err := schemas[in.Type].Validate(doc); err != nil {
					t.Errorf("%s does not match its schema: %v\n%s", in.Type, err, b)
				}
			}
		})
	}
}

func TestDeliveryID(t *testing.T) {
	req := request("", "", fixture(t, "ticket.created.json"))
	req.Header.Del(HeaderInvocationID)
	d, err := Scheme{}.Parse(req)
	if err != nil {
		t.Fatal(err)
	}
	// Never the webhook id: it is the same on every request of the webhook.
	if d.ID != "cbe4028c-7239-495d-b020-f22348516046" {
		t.Fatalf("delivery id %q, want the event id", d.ID)
	}
}

func TestParseRejects(t *testing.T) {
	created := string(fixture(t, "ticket.created.json"))
	cases := []struct {
		name, body, reason string
	}{
		{"unknown type", string(fixture(t, "ticket.priority_changed.json")), `unknown zendesk event type "zen:event-type:ticket.priority_changed"`},
		{"trigger payload", `{"ticket":{"id":"35436","status":"solved"}}`, "has no type"},
		{"no requester", strings.Replace(created, `"requester_id": "8447388090495"`, `"requester_id": null`, 1), "has no requester_id"},
		{"no detail", `{"type":"zen:event-type:ticket.created","id":"e1","time":"2025-01-08T10:12:07Z"}`, "has no ticket detail"},
		{"no event id", `{"type":"zen:event-type:ticket.created","detail":{"id":"1","requester_id":"2"}}`, "event has no id"},
		{"status change without current", `{"type":"zen:event-type:ticket.status_changed","id":"e1","detail":{"id":"1","requester_id":"2"},"event":{}}`, "no event.current"},
		{"comment without is_public", `{"type":"zen:event-type:ticket.comment_added","id":"e1","detail":{"id":"1","requester_id":"2"},"event":{"comment":{"id":"3"}}}`, "no event.comment"},
		{"time past year 9999 in UTC", `{"type":"zen:event-type:ticket.created","id":"e1","time":"9999-12-31T23:00:00-05:00","detail":{"id":"1","requester_id":"2"}}`, "time is out of range"},
		{"bad time", `{"type":"zen:event-type:ticket.created","id":"e1","time":"yesterday"}`, "not a zendesk event"},
		{"array", `[{"type":"zen:event-type:ticket.created"}]`, "not a zendesk event"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Scheme{}.Parse(request("", "", []byte(c.body)))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Events) != 0 || len(d.Rejects) != 1 {
				t.Fatalf("events %d rejects %d", len(d.Events), len(d.Rejects))
			}
			if r := d.Rejects[0]; r.Index != 0 || !strings.Contains(r.Reason, c.reason) || string(r.Item) != c.body {
				t.Fatalf("reject %d %q, want %q", r.Index, r.Reason, c.reason)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for _, body := range []string{``, `{"type":`, `type=ticket.created`} {
		if _, err := (Scheme{}).Parse(request("", "", []byte(body))); !errors.Is(err, channel.ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", body, err)
		}
	}
}

func FuzzVerifyAndParse(f *testing.F) {
	names, _ := filepath.Glob("testdata/*.json")
	for _, n := range names {
		b := fixture(f, filepath.Base(n))
		f.Add(Sign(testSecret, ts, b), ts, string(b))
	}
	f.Add("AAAA", "2025-01-08T14:25:31.999999999+14:00", `{"type":"zen:event-type:ticket.comment_added","id":"e","detail":{"id":1e9,"requester_id":-1,"status":{"status":7}},"event":{"comment":{"is_public":false,"author":{"id":{}}}}}`)
	f.Fuzz(func(t *testing.T, sig, ts, body string) {
		req := request(sig, ts, []byte(body))
		if err := (Scheme{}).Verify(req, []string{testSecret}, at); err != nil &&
			!errors.Is(err, channel.ErrSignature) && !errors.Is(err, channel.ErrStale) {
			t.Fatalf("Verify error wraps neither ErrSignature nor ErrStale: %v", err)
		}
		d, err := Scheme{}.Parse(req)
		if err != nil {
			if !errors.Is(err, channel.ErrMalformed) {
				t.Fatalf("Parse error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if len(d.Events)+len(d.Rejects) != 1 {
			t.Fatalf("%d events and %d rejects from one event", len(d.Events), len(d.Rejects))
		}
		for _, e := range d.Events {
			if _, err := e.OccurredAt.MarshalJSON(); err != nil {
				t.Fatalf("occurred_at does not marshal: %v", err)
			}
			if e.ID == "" || e.Type == "" || e.Customer.Empty() || e.Attributes["provider_event"] == nil || e.Attributes["ticket_id"] == nil {
				t.Fatalf("incomplete draft %+v", e)
			}
			if _, err := json.Marshal(e.Attributes); err != nil {
				t.Fatalf("attributes do not marshal: %v", err)
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	body := fixture(b, "ticket.comment_added.json")
	req := request(Sign(testSecret, ts, body), ts, body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := (Scheme{}).Verify(req, []string{other, testSecret}, at); err != nil {
			b.Fatal(err)
		}
		if d, err := (Scheme{}).Parse(req); err != nil || len(d.Events) != 1 {
			b.Fatal(d, err)
		}
	}
}
