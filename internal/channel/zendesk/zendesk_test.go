package zendesk

import (
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/channeltest"
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

func request(sig, ts string, body []byte) channel.Request {
	return channeltest.Request(body,
		HeaderWebhookID, "01F1KRFQ6BG29CNWFR60NK5FNY",
		HeaderInvocationID, "8350205582",
		HeaderAccountID, "22129848",
		HeaderSignature, sig,
		HeaderTimestamp, ts)
}

func TestRegistered(t *testing.T) { channeltest.Registered(t, Kind, nil) }

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
	channeltest.SignerRoundTrip(t, Scheme{}, request("", "", channeltest.Fixture(t, "ticket.created.json")))
}

func TestVerify(t *testing.T) {
	body := channeltest.Fixture(t, "ticket.status_changed.json")
	good := Sign(testSecret, ts, body)
	s := channeltest.Signing{
		Sign: func(b []byte, when time.Time) channel.Request {
			ts := when.UTC().Format(time.RFC3339)
			return request(Sign(testSecret, ts, b), ts, b)
		},
		Body:   body,
		Secret: testSecret, Other: other, At: at, Tolerance: Tolerance,
		Tamper: func(b []byte) []byte { return []byte(strings.Replace(string(b), "PENDING", "SOLVED", 1)) },
	}
	channeltest.Verify(t, Scheme{}, s,
		s.Case("tampered timestamp", request(good, "2025-01-08T14:25:32Z", body), channel.ErrSignature),
		s.Case("timestamp reformatted", request(good, "2025-01-08T15:25:31+01:00", body), channel.ErrSignature),
		s.Case("missing signature", request("", ts, body), channel.ErrSignature),
		s.Case("missing timestamp", request(good, "", body), channel.ErrSignature),
		s.Case("unix timestamp", request(good, "1736346331", body), channel.ErrSignature),
		s.Case("not base64", request("!!", ts, body), channel.ErrSignature),
	)
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
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			d, e := channeltest.ParseOne(t, Scheme{}, request("", "", channeltest.Fixture(t, c.file)))
			if d.ID != "8350205582" || e.ID != c.id || e.Type != c.typ {
				t.Errorf("delivery %q, draft %q %q; want 8350205582, %q %q", d.ID, e.ID, e.Type, c.id, c.typ)
			}
			if !reflect.DeepEqual(e.Customer, events.Customer{ID: "8447388090495"}) {
				t.Errorf("customer %+v", e.Customer)
			}
			if got := e.OccurredAt.Format(time.RFC3339Nano); got != c.at || e.OccurredAt.Location() != time.UTC {
				t.Errorf("occurred_at %s, want %s", got, c.at)
			}
			want := map[string]any{"zendesk_event_id": c.id}
			maps.Copy(want, base)
			maps.Copy(want, c.attrs)
			if !reflect.DeepEqual(e.Attributes, want) {
				t.Errorf("attributes\n got %#v\nwant %#v", e.Attributes, want)
			}
		})
	}
}

// An end user's user events link their Zendesk id, which tickets name as
// requester_id, to their email.
func TestParseUserEvents(t *testing.T) {
	cases := []struct {
		file, id, event, email, at string
	}{
		{"user.created.json", "0b4e8c2a-6f1d-4e3b-9a5c-7d2f1e0a9b8c", EventUserCreated, "Jane.Customer@Example.com", "2025-01-08T10:11:58.120394Z"},
		{"user.identity_changed.json", "4f3e2d1c-0b9a-4887-a665-544332211000", EventUserIdentityChanged, "jane@example.org", "2025-01-10T09:30:00Z"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			_, e := channeltest.ParseOne(t, Scheme{}, request("", "", channeltest.Fixture(t, c.file)))
			if e.ID != c.id || e.Type != TypeIdentified {
				t.Errorf("draft %q %q, want %q %q", e.ID, e.Type, c.id, TypeIdentified)
			}
			// The same requester id the ticket fixtures carry.
			if !reflect.DeepEqual(e.Customer, events.Customer{ID: "8447388090495", Email: c.email}) {
				t.Errorf("customer %+v", e.Customer)
			}
			if got := e.OccurredAt.Format(time.RFC3339Nano); got != c.at {
				t.Errorf("occurred_at %s, want %s", got, c.at)
			}
			want := map[string]any{"provider_event": c.event, "zendesk_event_id": c.id, "user_id": "8447388090495",
				"organization_id": "8447346622462", "account_id": "22129848"}
			if !reflect.DeepEqual(e.Attributes, want) {
				t.Errorf("attributes\n got %#v\nwant %#v", e.Attributes, want)
			}
		})
	}
	// The reference lists identity events as zen:event-type/user.identity_created.
	created := string(channeltest.Fixture(t, "user.created.json"))
	slash := strings.Replace(created, EventUserCreated, "zen:event-type/user.identity_created", 1)
	if _, e := channeltest.ParseOne(t, Scheme{}, request("", "", []byte(slash))); e.Attributes["provider_event"] != EventUserIdentityCreated {
		t.Errorf("slash spelling read as %v", e.Attributes["provider_event"])
	}
}

func TestDeliveryID(t *testing.T) {
	req := request("", "", channeltest.Fixture(t, "ticket.created.json"))
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
	created := string(channeltest.Fixture(t, "ticket.created.json"))
	cases := []struct {
		name, body, reason string
	}{
		{"unknown type", strings.Replace(created, EventTicketCreated, "zen:event-type:ticket.teleported", 1), `unknown zendesk event type "zen:event-type:ticket.teleported"`},
		{"trigger payload", `{"ticket":{"id":"35436","status":"solved"}}`, "has no type"},
		{"user without detail", `{"type":"zen:event-type:user.created","id":"e1","time":"2025-01-08T10:12:07Z"}`, "has no user detail"},
		{"user event without id", `{"type":"zen:event-type:user.created","detail":{"id":"1","role":"end-user","email":"a@b.c"}}`, "event has no id"},
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
			channeltest.RejectsWhole(t, Scheme{}, request("", "", []byte(c.body)), c.reason)
		})
	}
}

// What a webhook subscribed to ticket, user and organization events sends
// beside the mapped types is ignored on purpose: other ticket edits (the
// documented priority change), staff users, users without an email, user
// deletions. docs/channels.md lists every ignored type.
func TestCatalogue(t *testing.T) {
	userCreated := string(channeltest.Fixture(t, "user.created.json"))
	cases := map[string]string{
		"zen:event-type:ticket.priority_changed": string(channeltest.Fixture(t, "ticket.priority_changed.json")),
		"zen:event-type:user.created":            string(channeltest.Fixture(t, "user.created.agent.json")),
		"zen:event-type:user.identity_created":   strings.NewReplacer(EventUserCreated, EventUserIdentityCreated, `"Jane.Customer@Example.com"`, `null`).Replace(userCreated),
		"zen:event-type:user.identity_changed":   strings.NewReplacer(EventUserCreated, EventUserIdentityChanged, `"Jane.Customer@Example.com"`, `"jane at example"`).Replace(userCreated),
		"zen:event-type:user.deleted":            strings.Replace(userCreated, EventUserCreated, "zen:event-type:user.deleted", 1),
	}
	for typ, body := range cases {
		channeltest.IgnoresOne(t, Scheme{}, request("", "", []byte(body)), typ)
	}
	channeltest.Documented(t, append([]string{EventTicketCreated, EventStatusChanged, EventCommentAdded,
		EventUserCreated, EventUserIdentityCreated, EventUserIdentityChanged}, Ignored...)...)
}

func TestParseMalformed(t *testing.T) {
	for _, body := range []string{``, `{"type":`, `type=ticket.created`} {
		channeltest.Malformed(t, Scheme{}, request("", "", []byte(body)))
	}
}

func FuzzVerifyAndParse(f *testing.F) {
	for _, n := range channeltest.Fixtures(f, "*.json") {
		b := channeltest.Fixture(f, n)
		f.Add(Sign(testSecret, ts, b), ts, string(b))
	}
	f.Add("AAAA", "2025-01-08T14:25:31.999999999+14:00", `{"type":"zen:event-type:ticket.comment_added","id":"e","detail":{"id":1e9,"requester_id":-1,"status":{"status":7}},"event":{"comment":{"is_public":false,"author":{"id":{}}}}}`)
	inv := channeltest.Invariants{Secrets: []string{testSecret}, Now: at, OneItem: true, RFC3339: true}
	f.Fuzz(func(t *testing.T, sig, ts, body string) {
		d := inv.Check(t, Scheme{}, request(sig, ts, []byte(body)))
		for _, e := range d.Events {
			if e.ID == "" || e.Attributes["provider_event"] == nil || e.Attributes["ticket_id"] == nil && e.Attributes["user_id"] == nil {
				t.Fatalf("incomplete draft %+v", e)
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	body := channeltest.Fixture(b, "ticket.comment_added.json")
	channeltest.Benchmark(b, Scheme{}, request(Sign(testSecret, ts, body), ts, body), []string{other, testSecret}, at, 1)
}
