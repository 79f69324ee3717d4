package delighted

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
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
	h := http.Header{}
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	return channel.Request{Header: h, Body: body}
}

func readFixture(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustNew(t testing.TB, opts channel.Options) Scheme {
	k, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return k.(Scheme)
}

func TestSignMatchesOpenSSL(t *testing.T) {
	if got := Sign(vecKey, readFixture(t, "survey_response_updated.json")); got != vecSig {
		t.Fatalf("Sign = %s, want %s", got, vecSig)
	}
}

func TestVerify(t *testing.T) {
	body := readFixture(t, "survey_response_updated.json")
	cases := []struct {
		name    string
		req     channel.Request
		secrets []string
		want    error
	}{
		{"openssl vector", request(vecSig, body), []string{vecKey}, nil},
		{"bare hex digest", request(strings.TrimPrefix(vecSig, "sha256="), body), []string{vecKey}, nil},
		{"upper-case hex", request("sha256="+strings.ToUpper(vecSig[7:]), body), []string{vecKey}, nil},
		{"rotated: old and new API keys", request(vecSig, body), []string{"old-key", vecKey}, nil},
		{"tampered body", request(vecSig, append([]byte(" "), body...)), []string{vecKey}, channel.ErrSignature},
		{"wrong key", request(vecSig, body), []string{"another-key"}, channel.ErrSignature},
		{"no secrets", request(vecSig, body), nil, channel.ErrSignature},
		{"missing header", request("", body), []string{vecKey}, channel.ErrSignature},
		{"not hex", request("sha256=zz", body), []string{vecKey}, channel.ErrSignature},
		{"truncated digest", request(vecSig[:40], body), []string{vecKey}, channel.ErrSignature},
		{"sha1 digest", request("sha1=0123456789abcdef0123456789abcdef01234567", body), []string{vecKey}, channel.ErrSignature},
	}
	s := mustNew(t, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Verify(c.req, c.secrets, time.Now())
			if c.want == nil && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
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
	if f, ok := channel.Lookup(Kind); !ok {
		t.Fatal("delighted not registered")
	} else if _, err := f(channel.Options{"bogus": "x"}); err == nil {
		t.Fatal("registered factory accepts unknown options")
	}
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
			d, err := s.Parse(request("", readFixture(t, c.file)))
			if err != nil {
				t.Fatal(err)
			}
			if d.ID != c.delivery || len(d.Events) != 1 || len(d.Rejects) != 0 {
				t.Fatalf("delivery %q, %d events, rejects %+v", d.ID, len(d.Events), d.Rejects)
			}
			e := d.Events[0]
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
	body := strings.Replace(string(readFixture(t, "survey_response_created.json")), `"survey_type": "csat",`, "", 1)
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
	upd := string(readFixture(t, "survey_response_updated.json"))
	cases := []struct{ name, body, reason string }{
		{"unsubscribe", `{"event_type":"unsubscribe.created","event_id":"e1","event_data":{"person":{"id":"1","email":"a@b.c"}}}`, `unknown delighted event type "unsubscribe.created"`},
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
			d, err := s.Parse(request("", []byte(c.body)))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Events) != 0 || len(d.Rejects) != 1 {
				t.Fatalf("%d events, rejects %+v", len(d.Events), d.Rejects)
			}
			if r := d.Rejects[0]; r.Index != 0 || string(r.Item) != c.body || !strings.Contains(r.Reason, c.reason) {
				t.Errorf("reject %q, want %q", r.Reason, c.reason)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `{"event_type":`, `{} {}`, `"x"`} {
		if _, err := s.Parse(request("", []byte(bad))); !errors.Is(err, channel.ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", bad, err)
		}
	}
	// Numeric ids are read as strings.
	d, err := s.Parse(request("", []byte(`{"event_type":"survey_response.created","event_id":"e","event_data":{"id":5435,"score":0,"created_at":1,"person":{"id":5975}}}`)))
	if err != nil || len(d.Events) != 1 || d.Events[0].ID != "5435" || d.Events[0].Customer.ID != "5975" {
		t.Errorf("numeric ids: %+v %v", d, err)
	}
}

func FuzzVerifyAndParse(f *testing.F) {
	for _, name := range []string{"survey_response_updated.json", "survey_response_created.json"} {
		b := readFixture(f, name)
		f.Add(Sign(vecKey, b), b)
	}
	f.Add("sha256=", []byte(`{"event_type":"survey_response.updated","event_data":{"id":1e400,"score":1e400,"person":{"id":null}}}`))
	s := mustNew(f, nil)
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		req := request(sig, body)
		_ = s.Verify(req, []string{vecKey}, time.Now())
		d, err := s.Parse(req)
		if err != nil {
			if !errors.Is(err, channel.ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(d.Events)+len(d.Rejects) != 1 {
			t.Fatalf("%d events and %d rejects for one webhook", len(d.Events), len(d.Rejects))
		}
		for _, e := range d.Events {
			if e.Customer.Empty() || e.ID == "" || e.OccurredAt.IsZero() {
				t.Fatalf("incomplete draft %+v", e)
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	body := readFixture(b, "survey_response_updated.json")
	s := mustNew(b, nil)
	req := request(Sign(vecKey, body), body)
	secrets := []string{"old-key", vecKey}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Verify(req, secrets, time.Now()); err != nil {
			b.Fatal(err)
		}
		if d, err := s.Parse(req); err != nil || len(d.Events) != 1 {
			b.Fatal(d, err)
		}
	}
}
