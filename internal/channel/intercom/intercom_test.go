package intercom

import (
	"encoding/json"
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
	secret = "intercom-client-secret"
	other  = "the previous client secret"
)

// Intercom's page shows a signed request but not the secret behind it. This
// vector was computed outside Go, with
//
//	printf %s "$vecBody" | openssl dgst -sha1 -hmac intercom-client-secret
const (
	vecBody = `{"type":"notification_event","id":"notif_1","topic":"ping"}`
	vecSig  = "sha1=e58fe9117c1e49c088d947fbe9c92f5ffba903d2"
)

func request(sig string, body []byte) channel.Request {
	return channeltest.Request(body, "User-Agent", "intercom-parrot-service-client/1.0", HeaderSignature, sig)
}

func TestRegistered(t *testing.T) { channeltest.Registered(t, Kind, nil) }

func TestSignVector(t *testing.T) {
	if got := Sign(secret, []byte(vecBody)); got != vecSig {
		t.Fatalf("Sign = %s, want %s", got, vecSig)
	}
}

// The Signer the local stack and ocx sign use produces requests Verify accepts.
func TestSigner(t *testing.T) {
	channeltest.SignerRoundTrip(t, Scheme{}, request("", channeltest.Fixture(t, "conversation.user.created.json")))
}

func TestVerify(t *testing.T) {
	body := channeltest.Fixture(t, "conversation.user.replied.json")
	good := Sign(secret, body)
	s := channeltest.Signing{
		Sign:   func(b []byte, _ time.Time) channel.Request { return request(Sign(secret, b), b) },
		Body:   body,
		Secret: secret, Other: other,
		Tamper: func(b []byte) []byte { return []byte(strings.Replace(string(b), "refund", "discount", 1)) },
	}
	channeltest.Verify(t, Scheme{}, s,
		s.Case("independent vector", request(vecSig, []byte(vecBody)), nil),
		s.Case("upper-case hex", request("sha1="+strings.ToUpper(good[5:]), body), nil),
		s.Case("missing header", request("", body), channel.ErrSignature),
		s.Case("no sha1= prefix", request(good[5:], body), channel.ErrSignature),
		s.Case("sha256 prefix", request("sha256="+good[5:], body), channel.ErrSignature),
		s.Case("not hex", request("sha1=xyz", body), channel.ErrSignature),
		s.Case("truncated", request(good[:30], body), channel.ErrSignature),
	)
}

func TestParseFixtures(t *testing.T) {
	jane := events.Customer{ID: "6329bd9ffe4e2e91dac76188", Email: "jane@example.com"}
	common := map[string]any{"conversation_id": "1911149811", "app_id": "a86dr8yl", "priority": "not_priority", "contact_external_id": "u-1001"}
	cases := []struct {
		file, typ, id string
		customer      events.Customer
		at            int64
		attrs         map[string]any
	}{
		{"conversation.user.created.json", TypeOpened, "notif_ccd8a4d2-3f9d-4bd4-9bd4-d1e6b0a7d3c1", jane, 1700000000,
			map[string]any{"initiator": "customer", "state": "open"}},
		{"conversation.admin.replied.json", TypeReplied, "notif_5a1f0b7e-0c41-4e0e-8a2b-6f8d2c9e1a70", jane, 1700000400,
			map[string]any{"author": "agent", "author_type": "admin", "part_id": "20001", "state": "open", "admin_assignee_id": "814860", "team_assignee_id": "5017691"}},
		{"conversation.user.replied.json", TypeReplied, "notif_9e3c2b1a-7d6f-4c5e-b4a3-2f1e0d9c8b7a", jane, 1700001000,
			map[string]any{"author": "customer", "author_type": "user", "part_id": "20002", "state": "open", "admin_assignee_id": "814860", "team_assignee_id": "5017691"}},
		{"conversation.admin.closed.json", TypeClosed, "notif_0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d", jane, 1700002000,
			map[string]any{"author_type": "admin", "part_id": "20003", "state": "closed", "admin_assignee_id": "814860", "team_assignee_id": "5017691"}},
		{"conversation.rating.added.json", events.TypeSurveyResponded, "notif_3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", jane, 1700003101,
			map[string]any{"survey": "csat", "score": int64(2), "comment": "Took a week and three messages to get a refund", "teammate_id": "814860",
				"state": "closed", "admin_assignee_id": "814860", "team_assignee_id": "5017691"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			d, e := channeltest.ParseOne(t, Scheme{}, request("", channeltest.Fixture(t, c.file)))
			if d.ID != c.id || e.ID != c.id || e.Type != c.typ {
				t.Errorf("delivery %q draft %q %q, want %q %q", d.ID, e.ID, e.Type, c.id, c.typ)
			}
			if !reflect.DeepEqual(e.Customer, c.customer) {
				t.Errorf("customer %+v, want %+v", e.Customer, c.customer)
			}
			if !e.OccurredAt.Equal(time.Unix(c.at, 0)) || e.OccurredAt.Location() != time.UTC {
				t.Errorf("occurred_at %v, want %v", e.OccurredAt, time.Unix(c.at, 0).UTC())
			}
			want := map[string]any{"provider_event": strings.TrimSuffix(c.file, ".json")}
			maps.Copy(want, common)
			maps.Copy(want, c.attrs)
			if !reflect.DeepEqual(e.Attributes, want) {
				t.Errorf("attributes\n got %#v\nwant %#v", e.Attributes, want)
			}
		})
	}
}

// Older API versions list contacts as a bare array and name the rater
// "customer"; admin-initiated conversations have an admin as source author.
func TestParseShapes(t *testing.T) {
	body := `{"type":"notification_event","id":"notif_x","topic":"conversation.admin.single.created","app_id":"a1","created_at":1700000001,
		"data":{"item":{"type":"conversation","id":"77","created_at":1700000000,
		"source":{"delivered_as":"admin_initiated","author":{"type":"admin","id":"814860","email":"mk@acmeinc.org"}},
		"contacts":[{"type":"lead","id":"5bc8f7ae2d96695c18a"}]}}}`
	if _, e := channeltest.ParseOne(t, Scheme{}, request("", []byte(body))); e.Type != TypeOpened || !reflect.DeepEqual(e.Customer, events.Customer{ID: "5bc8f7ae2d96695c18a"}) || e.Attributes["initiator"] != "agent" {
		t.Fatalf("draft %+v", e)
	}

	rating := `{"type":"notification_event","id":"notif_y","topic":"conversation.rating.added","created_at":0,
		"data":{"item":{"type":"conversation","id":"77","user":{"type":"user","id":"u9"},
		"conversation_rating":{"rating":5,"remark":"","created_at":1700000000,"customer":{"type":"user","id":"u9"}}}}}`
	if _, e := channeltest.ParseOne(t, Scheme{}, request("", []byte(rating))); !reflect.DeepEqual(e.Customer, events.Customer{ID: "u9"}) || e.Attributes["score"] != int64(5) || e.Attributes["comment"] != nil || !e.OccurredAt.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("draft %+v", e)
	}

	var n map[string]any
	if err := json.Unmarshal(channeltest.Fixture(t, "conversation.admin.replied.json"), &n); err != nil {
		t.Fatal(err)
	}
	n["topic"] = "conversation.operator.replied"
	parts := n["data"].(map[string]any)["item"].(map[string]any)["conversation_parts"].(map[string]any)["conversation_parts"].([]any)
	parts[0].(map[string]any)["author"].(map[string]any)["type"] = "bot"
	bot, _ := json.Marshal(n)
	if _, e := channeltest.ParseOne(t, Scheme{}, request("", bot)); e.Attributes["author"] != "agent" || e.Attributes["author_type"] != "bot" {
		t.Fatalf("operator reply %+v", e.Attributes)
	}
}

func TestParseRejects(t *testing.T) {
	rating := string(channeltest.Fixture(t, "conversation.rating.added.json"))
	cases := []struct {
		name, body, reason string
	}{
		{"unknown topic", strings.Replace(string(channeltest.Fixture(t, "conversation.admin.assigned.json")), `"conversation.admin.assigned"`, `"conversation.teleported"`, 1), `unknown intercom topic "conversation.teleported"`},
		{"contact without id", `{"id":"notif_1","topic":"contact.user.created","data":{"item":{"type":"contact","email":"a@b.c"}}}`, "contact has no id"},
		{"rating out of scale", strings.Replace(rating, `"rating": 2`, `"rating": 6`, 1), "rating 6 is not an integer 1-5"},
		{"fractional rating", strings.Replace(rating, `"rating": 2`, `"rating": 2.5`, 1), "rating 2.5 is not an integer 1-5"},
		{"no rating", strings.Replace(rating, `"rating": 2`, `"rating": null`, 1), "no conversation_rating.rating"},
		{"no topic", `{"type":"notification_event","id":"notif_1"}`, "has no topic"},
		{"no id", `{"topic":"conversation.admin.closed","data":{"item":{"id":"1"}}}`, "notification has no id"},
		{"no item", `{"id":"notif_1","topic":"conversation.admin.closed","data":{}}`, "has no data.item"},
		{"item without id", `{"id":"notif_1","topic":"conversation.admin.closed","data":{"item":{"type":"conversation"}}}`, "conversation has no id"},
		{"no contact", `{"id":"notif_1","topic":"conversation.admin.closed","data":{"item":{"id":"5","source":{"author":{"type":"admin","id":"1"}}}}}`, "names no contact"},
		{"item of the wrong shape", `{"id":"notif_1","topic":"conversation.admin.closed","data":{"item":{"id":{"x":1}}}}`, "read conversation"},
		{"time out of range", `{"id":"notif_1","topic":"conversation.admin.closed","created_at":253402300800,"data":{"item":{"id":"5","contacts":[{"id":"c"}]}}}`, "out of range"},
		{"envelope of the wrong shape", `{"id":7,"topic":"conversation.admin.closed"}`, "not an intercom notification"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			channeltest.RejectsWhole(t, Scheme{}, request("", []byte(c.body)), c.reason)
		})
	}
}

// A contact's topics link its Intercom id, email and phone; assignment,
// the subscription ping and the other topics a typical app subscribes to
// are ignored on purpose, and docs/channels.md lists them.
func TestCatalogue(t *testing.T) {
	contact := channeltest.Fixture(t, "contact.user.created.json")
	_, e := channeltest.ParseOne(t, Scheme{}, request("", contact))
	if e.Type != TypeIdentified || !reflect.DeepEqual(e.Customer, events.Customer{ID: "6762f0dd1bb69f9f2193bb83", Email: "joebloggs@intercom.io", Phone: "+353871234567"}) ||
		e.Attributes["contact_external_id"] != "70" || !e.OccurredAt.Equal(time.Unix(1734537438, 0)) {
		t.Errorf("contact: %+v", e)
	}
	anonymous := strings.NewReplacer(`"joebloggs@intercom.io"`, `null`, `"+353871234567"`, `null`, `"contact.user.created"`, `"contact.lead.created"`).Replace(string(contact))
	channeltest.IgnoresOne(t, Scheme{}, request("", []byte(anonymous)), "contact.lead.created")
	channeltest.IgnoresOne(t, Scheme{}, request("", channeltest.Fixture(t, "ping.json")), "ping")
	channeltest.IgnoresOne(t, Scheme{}, request("", channeltest.Fixture(t, "conversation.admin.assigned.json")), "conversation.admin.assigned")
	var all []string
	for k := range topics {
		all = append(all, k)
	}
	for k := range contactTopics {
		all = append(all, k)
	}
	channeltest.Documented(t, append(all, Ignored...)...)
}

func TestParseMalformed(t *testing.T) {
	for _, body := range []string{``, `{"topic":`, `topic=ping`} {
		channeltest.Malformed(t, Scheme{}, request("", []byte(body)))
	}
}

func FuzzVerifyAndParse(f *testing.F) {
	for _, n := range channeltest.Fixtures(f, "*.json") {
		b := channeltest.Fixture(f, n)
		f.Add(Sign(secret, b), string(b))
	}
	f.Add("sha1=", `{"id":"n","topic":"conversation.rating.added","data":{"item":{"id":1,"contacts":{},"conversation_rating":{"rating":1e308}}}}`)
	inv := channeltest.Invariants{Secrets: []string{secret}, OneItem: true, RFC3339: true}
	f.Fuzz(func(t *testing.T, sig, body string) {
		d := inv.Check(t, Scheme{}, request(sig, []byte(body)))
		for _, e := range d.Events {
			if e.ID == "" || e.Attributes["provider_event"] == nil || e.Attributes["conversation_id"] == nil && e.Attributes["contact_id"] == nil {
				t.Fatalf("incomplete draft %+v", e)
			}
			if e.Type == events.TypeSurveyResponded {
				if s, ok := e.Attributes["score"].(int64); !ok || s < 1 || s > 5 {
					t.Fatalf("csat score %v", e.Attributes["score"])
				}
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	body := channeltest.Fixture(b, "conversation.admin.replied.json")
	channeltest.Benchmark(b, Scheme{}, request(Sign(secret, body), body), []string{other, secret}, time.Time{}, 1)
}
