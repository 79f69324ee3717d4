package delighted

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/channeltest"
)

// Delighted publishes neither a vector nor a Go library. This one was
// computed independently, following the documented scheme, with
//
//	openssl dgst -sha256 -hmac dlghtd_test_api_key -hex < testdata/survey_response_updated.json
const (
	vecKey = "dlghtd_test_api_key"
	vecSig = "sha256=9d305675864855b4a6ec7f55ed500210d12c2e79ba136e1875c0f25324f01af3"
)

func request(sig string, body []byte) channel.Request {
	return channeltest.Request(body, HeaderSignature, sig)
}

func mustNew(t testing.TB, opts channel.Options) Scheme {
	return channeltest.Build[Scheme](t, New, opts)
}

func TestSignMatchesOpenSSL(t *testing.T) {
	if got := Sign(vecKey, channeltest.Fixture(t, "survey_response_updated.json")); got != vecSig {
		t.Fatalf("Sign = %s, want %s", got, vecSig)
	}
}

func TestVerify(t *testing.T) {
	body := channeltest.Fixture(t, "survey_response_updated.json")
	s := channeltest.Signing{
		Sign:   func(b []byte, _ time.Time) channel.Request { return request(Sign(vecKey, b), b) },
		Body:   body,
		Secret: vecKey, Other: "another-key", At: time.Now(),
	}
	channeltest.Verify(t, mustNew(t, nil), s,
		s.Case("openssl vector", request(vecSig, body), nil),
		s.Case("bare hex digest", request(strings.TrimPrefix(vecSig, "sha256="), body), nil),
		s.Case("upper-case hex", request("sha256="+strings.ToUpper(vecSig[7:]), body), nil),
		s.Case("missing header", request("", body), channel.ErrSignature),
		s.Case("not hex", request("sha256=zz", body), channel.ErrSignature),
		s.Case("truncated digest", request(vecSig[:40], body), channel.ErrSignature),
		s.Case("sha1 digest", request("sha1=0123456789abcdef0123456789abcdef01234567", body), channel.ErrSignature),
	)
}

// The Signer the local stack and ocx sign use produces requests Verify accepts.
func TestSigner(t *testing.T) {
	channeltest.SignerRoundTrip(t, mustNew(t, nil), request("", channeltest.Fixture(t, "survey_response_created.json")))
}

func TestOptions(t *testing.T) {
	cases := []struct {
		opts   channel.Options
		survey string
		err    string
	}{
		{nil, "nps", ""},
		{channel.Options{"survey": "csat"}, "csat", ""},
		{channel.Options{"survey": "ces"}, "ces", ""},
		{channel.Options{"survey": "smileys"}, "", `option survey is "smileys", want nps, csat or ces`},
		{channel.Options{"scale": "nps"}, "", `unknown option "scale" (known: survey)`},
	}
	for _, c := range cases {
		k, err := New(c.opts)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("New(%v) = %v, want %q", c.opts, err, c.err)
			}
			continue
		}
		if err != nil || k.(Scheme).Survey != c.survey {
			t.Errorf("New(%v) = %+v, %v", c.opts, k, err)
		}
	}
	channeltest.Registered(t, Kind, channel.Options{"survey": "csat"})
}

func TestParseFixtures(t *testing.T) {
	cases := []struct {
		file, delivery, id string
		at                 time.Time
		customerID, email  string
		attrs              map[string]any
	}{
		{"survey_response_updated.json", "b8d057c59327541d7ec2104c0a9a255ad1997fb00831b9c6bbf09561e6d5cbd0", "5435:1732187444",
			time.Unix(1732187444, 0).UTC(), "5975", "charlie_gravis@example.com", map[string]any{
				"provider_event": "survey_response.updated", "survey": "nps", "survey_type": "nps", "score": 9,
				"response_id": "5435", "person_id": "5975", "comment": "Your service is fast and flawless!",
				"permalink": "https://app.delighted.com/r/5pFDpmlyC8GUc5oxU6USto5VonSKAqOa",
			}},
		{"survey_response_created.json", "4f1c2e9d7a3b5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f506", "5436",
			time.Unix(1732190400, 0).UTC(), "5976", "ann@example.com", map[string]any{
				"provider_event": "survey_response.created", "survey": "csat", "survey_type": "csat", "score": 2,
				"response_id": "5436", "person_id": "5976",
				"permalink":         "https://app.delighted.com/r/7qHFrnm0aE9Wd7pzW8VUuq7XqpUMCsQc",
				"person_properties": map[string]any{"Delighted Source": "Email", "Customer ID": "u-1001"},
			}},
	}
	s := mustNew(t, nil)
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			d, e := channeltest.ParseOne(t, s, request("", channeltest.Fixture(t, c.file)))
			if d.ID != c.delivery {
				t.Errorf("delivery %q, want %q", d.ID, c.delivery)
			}
			if e.ID != c.id || e.Type != "survey.responded" || !e.OccurredAt.Equal(c.at) || e.OccurredAt.Location() != time.UTC {
				t.Errorf("id %q type %q at %v", e.ID, e.Type, e.OccurredAt)
			}
			if e.Customer.ID != c.customerID || e.Customer.Email != c.email || e.Customer.Phone != "" {
				t.Errorf("customer %+v", e.Customer)
			}
			if !reflect.DeepEqual(e.Attributes, c.attrs) {
				t.Errorf("attributes\n got %#v\nwant %#v", e.Attributes, c.attrs)
			}
		})
	}
}

func TestParseSurveyOption(t *testing.T) {
	// Without survey_type in the payload the channel's option decides the scale.
	body := strings.Replace(string(channeltest.Fixture(t, "survey_response_created.json")), `"survey_type": "csat",`, "", 1)
	for _, c := range []struct {
		survey string
		ok     bool
	}{{"nps", true}, {"csat", true}, {"ces", true}} {
		d, err := mustNew(t, channel.Options{"survey": c.survey}).Parse(request("", []byte(body)))
		if err != nil || len(d.Events) != 1 || d.Events[0].Attributes["survey"] != c.survey {
			t.Errorf("survey %s: %+v %v", c.survey, d, err)
		}
	}
	// An NPS 9 is out of scale for a CSAT channel without survey_type.
	nine := strings.Replace(body, `"score": 2`, `"score": 9`, 1)
	d, _ := mustNew(t, channel.Options{"survey": "csat"}).Parse(request("", []byte(nine)))
	if len(d.Rejects) != 1 || !strings.Contains(d.Rejects[0].Reason, "csat score 9 of response 5436 is outside 1-5") {
		t.Errorf("%+v", d)
	}
}

func TestParseRejects(t *testing.T) {
	upd := string(channeltest.Fixture(t, "survey_response_updated.json"))
	cases := []struct{ name, body, reason string }{
		{"unknown event", `{"event_type":"person.teleported","event_id":"e1","event_data":{"person":{"id":"1","email":"a@b.c"}}}`, `unknown delighted event type "person.teleported"`},
		{"out of scale", strings.Replace(upd, `"score": 9`, `"score": 11`, 1), "nps score 11 of response 5435 is outside 0-10"},
		{"not an integer", strings.Replace(upd, `"score": 9`, `"score": 8.5`, 1), "is outside 0-10"},
		{"no score", strings.Replace(upd, `"score": 9`, `"score": null`, 1), "has no score"},
		{"unscaled survey type", strings.Replace(upd, `"survey_type": "nps"`, `"survey_type": "smileys"`, 1), `survey_type "smileys" has no canonical scale`},
		{"no person", `{"event_type":"survey_response.created","event_id":"e","event_data":{"id":"1","score":5,"created_at":1}}`, "has no person id, email or phone"},
		{"no id", `{"event_type":"survey_response.created","event_id":"e","event_data":{"score":5,"created_at":1,"person":{"id":"1"}}}`, "has no event_data.id"},
		{"no time", `{"event_type":"survey_response.created","event_id":"e","event_data":{"id":"1","score":5,"person":{"id":"1"}}}`, "has no created_at/updated_at"},
		{"event_data not an object", `{"event_type":"survey_response.created","event_id":"e","event_data":[]}`, "is not a survey_response"},
	}
	s := mustNew(t, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			channeltest.RejectsWhole(t, s, request("", []byte(c.body)), c.reason)
		})
	}
	for _, bad := range []string{``, `[]`, `{"event_type":`, `{} {}`, `{} ]`, `"x"`} {
		channeltest.Malformed(t, s, request("", []byte(bad)))
	}
	// Numeric ids are read as strings.
	_, e := channeltest.ParseOne(t, s, request("", []byte(`{"event_type":"survey_response.created","event_id":"e","event_data":{"id":5435,"score":0,"created_at":1,"person":{"id":5975}}}`)))
	if e.ID != "5435" || e.Customer.ID != "5975" {
		t.Errorf("numeric ids: %+v", e)
	}
}

func FuzzVerifyAndParse(f *testing.F) {
	for _, name := range channeltest.Fixtures(f, "*.json") {
		b := channeltest.Fixture(f, name)
		f.Add(Sign(vecKey, b), b)
	}
	f.Add("sha256=", []byte(`{"event_type":"survey_response.updated","event_data":{"id":1e400,"score":1e400,"person":{"id":null}}}`))
	s := mustNew(f, nil)
	inv := channeltest.Invariants{Secrets: []string{vecKey}, Now: time.Now(), OneItem: true}
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		d := inv.Check(t, s, request(sig, body))
		for _, e := range d.Events {
			if e.ID == "" || e.OccurredAt.IsZero() {
				t.Fatalf("incomplete draft %+v", e)
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	body := channeltest.Fixture(b, "survey_response_updated.json")
	channeltest.Benchmark(b, mustNew(b, nil), request(Sign(vecKey, body), body), []string{"old-key", vecKey}, time.Now(), 1)
}

// A person unsubscribing from surveys is ignored on purpose.
func TestCatalogue(t *testing.T) {
	body := `{"event_type":"unsubscribe.created","event_id":"e1","event_data":{"person":{"id":"1","email":"a@b.c"}}}`
	channeltest.IgnoresOne(t, mustNew(t, nil), request("", []byte(body)), "unsubscribe.created")
	channeltest.Documented(t, "survey_response.created", "survey_response.updated", "unsubscribe.created")
}
