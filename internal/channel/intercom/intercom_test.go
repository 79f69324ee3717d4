package intercom

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

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func request(sig string, body []byte) channel.Request {
	h := http.Header{}
	h.Set("User-Agent", "intercom-parrot-service-client/1.0")
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	return channel.Request{Header: h, Body: body}
}

func TestRegistered(t *testing.T) {
	f, ok := channel.Lookup(Kind)
	if !ok {
		t.Fatal("intercom kind not registered")
	}
	if _, err := f(nil); err != nil {
		t.Fatalf("no options: %v", err)
	}
	if _, err := f(channel.Options{"survey": "nps"}); err == nil {
		t.Fatal("an unknown option was accepted")
	}
}

func TestSignVector(t *testing.T) {
	if got := Sign(secret, []byte(vecBody)); got != vecSig {
		t.Fatalf("Sign = %s, want %s", got, vecSig)
	}
}

// The Signer the local stack and ocx sign use produces requests Verify accepts.
func TestSigner(t *testing.T) {
	sign, verify := Scheme{}.DemoSecrets("local-intercom")
	if again, _ := (Scheme{}).DemoSecrets("local-intercom"); again != sign || sign != verify {
		t.Fatalf("demo secrets are not fixed and shared: %q %q %q", sign, again, verify)
	}
	otherSign, _ := Scheme{}.DemoSecrets("local-elsewhere")
	now := time.Now()
	req := request("", fixture(t, "conversation.user.created.json"))
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
	body := fixture(t, "conversation.user.replied.json")
	good := Sign(secret, body)
	cases := []struct {
		name    string
		req     channel.Request
		secrets []string
		want    error
	}{
		{"valid", request(good, body), []string{secret}, nil},
		{"independent vector", request(vecSig, []byte(vecBody)), []string{secret}, nil},
		{"upper-case hex", request("sha1="+strings.ToUpper(good[5:]), body), []string{secret}, nil},
		{"rotated: old and new secrets active", request(good, body), []string{other, secret}, nil},
		{"tampered body", request(good, []byte(strings.Replace(string(body), "refund", "discount", 1))), []string{secret}, channel.ErrSignature},
		{"wrong secret", request(good, body), []string{other}, channel.ErrSignature},
		{"no secrets", request(good, body), nil, channel.ErrSignature},
		{"missing header", request("", body), []string{secret}, channel.ErrSignature},
		{"no sha1= prefix", request(good[5:], body), []string{secret}, channel.ErrSignature},
		{"sha256 prefix", request("sha256="+good[5:], body), []string{secret}, channel.ErrSignature},
		{"not hex", request("sha1=xyz", body), []string{secret}, channel.ErrSignature},
		{"truncated", request(good[:30], body), []string{secret}, channel.ErrSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Scheme{}.Verify(c.req, c.secrets, time.Time{})
			if c.want == nil && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), other)) {
				t.Fatalf("error echoes a secret: %v", err)
			}
		})
	}
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
	schemas, err := events.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			d, err := Scheme{}.Parse(request("", fixture(t, c.file)))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Events) != 1 || len(d.Rejects) != 0 {
				t.Fatalf("events %d, rejects %+v", len(d.Events), d.Rejects)
			}
			e := d.Events[0]
			if d.ID != c.id || e.ID != c.id || e.Type != c.typ {
				t.Errorf("delivery %q draft %q %q, want %q %q", d.ID, e.ID, e.Type, c.id, c.typ)
			}
			if e.Customer != c.customer {
				t.Errorf("customer %+v, want %+v", e.Customer, c.customer)
			}
			if !e.OccurredAt.Equal(time.Unix(c.at, 0)) || e.OccurredAt.Location() != time.UTC {
				t.Errorf("occurred_at %v, want %v", e.OccurredAt, time.Unix(c.at, 0).UTC())
			}
			want := map[string]any{"provider_event": strings.TrimSuffix(c.file, ".json")}
			for k, v := range common {
				want[k] = v
			}
			for k, v := range c.attrs {
				want[k] = v
			}
			if !reflect.DeepEqual(e.Attributes, want) {
				t.Errorf("attributes\n got %#v\nwant %#v", e.Attributes, want)
			}
			for _, in := range ingest.Canonical("chat", d, "s3://archive/raw/chat/x.json", time.Unix(1700009999, 0)) {
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

// Older API versions list contacts as a bare array and name the rater
// "customer"; admin-initiated conversations have an admin as source author.
func TestParseShapes(t *testing.T) {
	body := `{"type":"notification_event","id":"notif_x","topic":"conversation.admin.single.created","app_id":"a1","created_at":1700000001,
		"data":{"item":{"type":"conversation","id":"77","created_at":1700000000,
		"source":{"delivered_as":"admin_initiated","author":{"type":"admin","id":"814860","email":"mk@acmeinc.org"}},
		"contacts":[{"type":"lead","id":"5bc8f7ae2d96695c18a"}]}}}`
	d, err := Scheme{}.Parse(request("", []byte(body)))
	if err != nil || len(d.Events) != 1 {
		t.Fatalf("%v %+v", err, d.Rejects)
	}
	if e := d.Events[0]; e.Type != TypeOpened || e.Customer != (events.Customer{ID: "5bc8f7ae2d96695c18a"}) || e.Attributes["initiator"] != "agent" {
		t.Fatalf("draft %+v", e)
	}

	rating := `{"type":"notification_event","id":"notif_y","topic":"conversation.rating.added","created_at":0,
		"data":{"item":{"type":"conversation","id":"77","user":{"type":"user","id":"u9"},
		"conversation_rating":{"rating":5,"remark":"","created_at":1700000000,"customer":{"type":"user","id":"u9"}}}}}`
	d, err = Scheme{}.Parse(request("", []byte(rating)))
	if err != nil || len(d.Events) != 1 {
		t.Fatalf("%v %+v", err, d.Rejects)
	}
	e := d.Events[0]
	if e.Customer != (events.Customer{ID: "u9"}) || e.Attributes["score"] != int64(5) || e.Attributes["comment"] != nil || !e.OccurredAt.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("draft %+v", e)
	}

	var n map[string]any
	if err := json.Unmarshal(fixture(t, "conversation.admin.replied.json"), &n); err != nil {
		t.Fatal(err)
	}
	n["topic"] = "conversation.operator.replied"
	parts := n["data"].(map[string]any)["item"].(map[string]any)["conversation_parts"].(map[string]any)["conversation_parts"].([]any)
	parts[0].(map[string]any)["author"].(map[string]any)["type"] = "bot"
	bot, _ := json.Marshal(n)
	d, err = Scheme{}.Parse(request("", bot))
	if err != nil || len(d.Events) != 1 {
		t.Fatalf("%v %+v", err, d.Rejects)
	}
	if e := d.Events[0]; e.Attributes["author"] != "agent" || e.Attributes["author_type"] != "bot" {
		t.Fatalf("operator reply %+v", e.Attributes)
	}
}

func TestParseRejects(t *testing.T) {
	rating := string(fixture(t, "conversation.rating.added.json"))
	cases := []struct {
		name, body, reason string
	}{
		{"unknown topic", string(fixture(t, "conversation.admin.assigned.json")), `unknown intercom topic "conversation.admin.assigned"`},
		{"ping", string(fixture(t, "ping.json")), "intercom ping notification"},
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
			d, err := Scheme{}.Parse(request("", []byte(c.body)))
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
	for _, body := range []string{``, `{"topic":`, `topic=ping`} {
		if _, err := (Scheme{}).Parse(request("", []byte(body))); !errors.Is(err, channel.ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", body, err)
		}
	}
}

func FuzzVerifyAndParse(f *testing.F) {
	names, _ := filepath.Glob("testdata/*.json")
	for _, n := range names {
		b := fixture(f, filepath.Base(n))
		f.Add(Sign(secret, b), string(b))
	}
	f.Add("sha1=", `{"id":"n","topic":"conversation.rating.added","data":{"item":{"id":1,"contacts":{},"conversation_rating":{"rating":1e308}}}}`)
	f.Fuzz(func(t *testing.T, sig, body string) {
		req := request(sig, []byte(body))
		if err := (Scheme{}).Verify(req, []string{secret}, time.Time{}); err != nil && !errors.Is(err, channel.ErrSignature) {
			t.Fatalf("Verify error does not wrap ErrSignature: %v", err)
		}
		d, err := Scheme{}.Parse(req)
		if err != nil {
			if !errors.Is(err, channel.ErrMalformed) {
				t.Fatalf("Parse error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if len(d.Events)+len(d.Rejects) != 1 {
			t.Fatalf("%d events and %d rejects from one notification", len(d.Events), len(d.Rejects))
		}
		for _, e := range d.Events {
			if _, err := e.OccurredAt.MarshalJSON(); err != nil {
				t.Fatalf("occurred_at does not marshal: %v", err)
			}
			if e.ID == "" || e.Type == "" || e.Customer.Empty() || e.Attributes["provider_event"] == nil || e.Attributes["conversation_id"] == nil {
				t.Fatalf("incomplete draft %+v", e)
			}
			if e.Type == events.TypeSurveyResponded {
				if s, ok := e.Attributes["score"].(int64); !ok || s < 1 || s > 5 {
					t.Fatalf("csat score %v", e.Attributes["score"])
				}
			}
			if _, err := json.Marshal(e.Attributes); err != nil {
				t.Fatalf("attributes do not marshal: %v", err)
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	body := fixture(b, "conversation.admin.replied.json")
	req := request(Sign(secret, body), body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := (Scheme{}).Verify(req, []string{other, secret}, time.Time{}); err != nil {
			b.Fatal(err)
		}
		if d, err := (Scheme{}).Parse(req); err != nil || len(d.Events) != 1 {
			b.Fatal(d, err)
		}
	}
}
