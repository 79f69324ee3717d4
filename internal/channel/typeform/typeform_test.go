package typeform

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/channeltest"
)

// Typeform publishes the procedure but no vector, and has no Go library.
// These were computed independently with
//
//	openssl dgst -sha256 -hmac abc123 -binary <body> | base64
//
// following Typeform's documented steps ("abc123" is the secret of its own
// Swift sample).
const (
	vecSecret    = "abc123"
	vecShortBody = `{"event_id":"x"}`
	vecShortSig  = "sha256=U1rJymdgorpNL5RkZrWJNbgFqLo1b0tqVtnqONoXh1w="
	vecNPSSig    = "sha256=k1+7ywkGy/e0+T8hJwCfX+2xpcXulgdmnpDkBI9Mrak=" // testdata/nps_response.json
)

func request(sig string, body []byte) channel.Request {
	return channeltest.Request(body, HeaderSignature, sig)
}

func mustNew(t testing.TB, opts channel.Options) Scheme {
	return channeltest.Build[Scheme](t, New, opts)
}

func TestSignMatchesOpenSSL(t *testing.T) {
	if got := Sign(vecSecret, []byte(vecShortBody)); got != vecShortSig {
		t.Errorf("Sign = %s, want %s", got, vecShortSig)
	}
	if got := Sign(vecSecret, channeltest.Fixture(t, "nps_response.json")); got != vecNPSSig {
		t.Errorf("Sign(fixture) = %s, want %s", got, vecNPSSig)
	}
}

func TestVerify(t *testing.T) {
	body := channeltest.Fixture(t, "nps_response.json")
	s := channeltest.Signing{
		Sign:   func(b []byte, _ time.Time) channel.Request { return request(Sign(vecSecret, b), b) },
		Body:   body,
		Secret: vecSecret, Other: "abc124", At: time.Now(),
		Tamper: func(b []byte) []byte { return append(b, ' ') },
	}
	channeltest.Verify(t, mustNew(t, channel.Options{"nps_ref": "nps"}), s,
		s.Case("openssl vector", request(vecNPSSig, body), nil),
		s.Case("short vector", request(vecShortSig, []byte(vecShortBody)), nil),
		s.Case("missing header", request("", body), channel.ErrSignature),
		s.Case("hex instead of base64", request("sha256=9353fbcb0906cbf7b4f93f21270", body), channel.ErrSignature),
		s.Case("no sha256= prefix", request(strings.TrimPrefix(vecNPSSig, "sha256="), body), channel.ErrSignature),
	)
}

// The Signer the local stack and ocx sign use produces requests Verify accepts.
func TestSigner(t *testing.T) {
	channeltest.SignerRoundTrip(t, mustNew(t, channel.Options{"nps_ref": "nps"}), request("", channeltest.Fixture(t, "nps_response.json")))
}

func TestOptions(t *testing.T) {
	cases := []struct {
		opts channel.Options
		err  string
	}{
		{channel.Options{"nps_ref": "nps"}, ""},
		{channel.Options{"nps_ref": "a", "csat_ref": "b", "ces_ref": "c"}, ""},
		{nil, "needs at least one of nps_ref, csat_ref, ces_ref (the field ref of the score question)"},
		{channel.Options{"nps": "a"}, `unknown option "nps" (known: nps_ref, csat_ref, ces_ref)`},
		{channel.Options{"nps_ref": " "}, "option nps_ref is empty"},
		{channel.Options{"nps_ref": "q", "csat_ref": "q"}, `options nps_ref and csat_ref name the same question "q"`},
	}
	for _, c := range cases {
		_, err := New(c.opts)
		if c.err == "" && err != nil || c.err != "" && (err == nil || err.Error() != c.err) {
			t.Errorf("New(%v) = %v, want %q", c.opts, err, c.err)
		}
	}
	channeltest.Registered(t, Kind, channel.Options{"nps_ref": "nps"})
}

func TestParseDocumentedExample(t *testing.T) {
	// Typeform's example payload: answers name their field by id only, so
	// refs come from the definition; the customer is the hidden user_id
	// plus the email answer; the long_text answer is the comment.
	s := mustNew(t, channel.Options{"nps_ref": "readable_ref_number1", "csat_ref": "readable_ref_rating", "ces_ref": "readable_ref_opinion_scale"})
	d, err := s.Parse(request("", channeltest.Fixture(t, "form_response.json")))
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "LtWXD3crgy" || len(d.Rejects) != 0 || len(d.Events) != 3 {
		t.Fatalf("delivery %q, %d events, rejects %+v", d.ID, len(d.Events), d.Rejects)
	}
	channeltest.MatchSchemas(t, d)
	at := time.Date(2018, 1, 18, 18, 17, 2, 0, time.UTC)
	comment := "It's cold right now! I live in an older medium-sized city with a university. Geographically, the area is hilly."
	want := []struct {
		ref, survey, qtype string
		score              int
	}{
		{"readable_ref_number1", "nps", "number", 5},
		{"readable_ref_rating", "csat", "rating", 3},
		{"readable_ref_opinion_scale", "ces", "opinion_scale", 2},
	}
	for i, w := range want {
		e := d.Events[i]
		if e.ID != "a3a12ec67a1365927098a606107fac15:"+w.ref || e.Type != "survey.responded" || !e.OccurredAt.Equal(at) || e.OccurredAt.Location() != time.UTC {
			t.Errorf("event %d: id %q type %q at %v", i, e.ID, e.Type, e.OccurredAt)
		}
		if e.Customer.ID != "abc123456" || e.Customer.Email != "laura@example.com" || e.Customer.Phone != "" {
			t.Errorf("event %d: customer %+v", i, e.Customer)
		}
		attrs := map[string]any{
			"provider_event": "form_response", "survey": w.survey, "score": w.score, "form_id": "lT4Z3j",
			"response_token": "a3a12ec67a1365927098a606107fac15", "question_ref": w.ref, "question_type": w.qtype,
			"form_title": "Webhooks example", "comment": comment,
		}
		if !reflect.DeepEqual(e.Attributes, attrs) {
			t.Errorf("event %d attributes\n got %#v\nwant %#v", i, e.Attributes, attrs)
		}
	}
}

func TestParseNPSResponse(t *testing.T) {
	s := mustNew(t, channel.Options{"nps_ref": "nps", "csat_ref": "csat"})
	d, e := channeltest.ParseOne(t, s, request("", channeltest.Fixture(t, "nps_response.json")))
	if d.ID != "01HQ3RZ1AJ8G1XK2M5T7V9B0CD" {
		t.Errorf("delivery %q", d.ID)
	}
	if e.ID != "01hq3rz0w4kq8v2c6n9d1f5g7h:nps" || e.Customer.ID != "u-1001" || e.Customer.Email != "ann@example.com" ||
		e.Attributes["score"] != 3 || e.Attributes["survey"] != "nps" || e.Attributes["comment"] != "Took three calls to fix my order" {
		t.Errorf("%+v", e)
	}
}

func TestParseRejects(t *testing.T) {
	nps := string(channeltest.Fixture(t, "nps_response.json"))
	cases := []struct {
		name, body string
		events     int
		index      int
		reason     string
	}{
		{"out of scale", strings.Replace(nps, `"number": 3`, `"number": 11`, 1), 0, 0, `nps answer 11 to "nps" is outside 0-10`},
		{"not an integer", strings.Replace(nps, `"number": 3`, `"number": 6.5`, 1), 0, 0, "is outside 0-10"},
		{"not a number", strings.Replace(nps, `{"type": "number", "number": 3,`, `{"type": "text", "text": "3",`, 1), 0, 0, `nps question "nps" answered with a text answer, want a number`},
		{"question not answered", strings.Replace(nps, `"ref": "nps"}`, `"ref": "other"}`, 1), 0, 0, "answers none of the configured questions (nps_ref=nps, csat_ref=csat)"},
		{"no customer", strings.Replace(nps, `"hidden": {"email": "ann@example.com", "customer_id": "u-1001"},`, "", 1), 0, 0, "has no customer"},
		{"no token", strings.Replace(nps, `"token": "01hq3rz0w4kq8v2c6n9d1f5g7h",`, "", 1), 0, 0, "has no form_response.token"},
		{"bad submitted_at", strings.Replace(nps, `"2026-11-23T08:12:00Z"`, `"yesterday"`, 1), 0, 0, "no RFC 3339 submitted_at"},
	}
	s := mustNew(t, channel.Options{"nps_ref": "nps", "csat_ref": "csat"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := s.Parse(request("", []byte(c.body)))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Events) != c.events || len(d.Rejects) != 1 {
				t.Fatalf("%d events, rejects %+v", len(d.Events), d.Rejects)
			}
			if r := d.Rejects[0]; r.Index != c.index || !strings.Contains(r.Reason, c.reason) || len(r.Item) == 0 {
				t.Errorf("reject %d %q, want %d %q", r.Index, r.Reason, c.index, c.reason)
			}
		})
	}
	// One bad answer never sinks the others.
	two := mustNew(t, channel.Options{"nps_ref": "readable_ref_number1", "csat_ref": "readable_ref_number2", "ces_ref": "readable_ref_date"})
	d, err := two.Parse(request("", channeltest.Fixture(t, "form_response.json")))
	if err != nil || len(d.Events) != 2 || len(d.Rejects) != 1 || d.Rejects[0].Index != 3 || !strings.Contains(string(d.Rejects[0].Item), "2005-10-15") {
		t.Fatalf("%+v %v", d, err)
	}
	for _, bad := range []string{``, `[]`, `{"event_id":`, `{} {}`, `{} ]`} {
		channeltest.Malformed(t, s, request("", []byte(bad)))
	}
}

func FuzzVerifyAndParse(f *testing.F) {
	for _, name := range channeltest.Fixtures(f, "*.json") {
		b := channeltest.Fixture(f, name)
		f.Add(Sign(vecSecret, b), b)
	}
	f.Add(vecShortSig, []byte(vecShortBody))
	f.Add("sha256=", []byte(`{"event_type":"form_response","form_response":{"token":"t","submitted_at":"2026-11-23T08:12:00Z","hidden":{"user_id":"u"},"answers":[{"type":"number","number":1e400,"field":{"ref":"nps"}}]}}`))
	s := mustNew(f, channel.Options{"nps_ref": "nps", "csat_ref": "readable_ref_rating", "ces_ref": "readable_ref_opinion_scale"})
	inv := channeltest.Invariants{Secrets: []string{vecSecret}, Now: time.Now()}
	f.Fuzz(func(t *testing.T, sig string, body []byte) {
		d := inv.Check(t, s, request(sig, body))
		for _, e := range d.Events {
			if e.ID == "" || e.Attributes["survey"] == nil {
				t.Fatalf("incomplete draft %+v", e)
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	body := channeltest.Fixture(b, "form_response.json")
	s := mustNew(b, channel.Options{"nps_ref": "readable_ref_number1", "csat_ref": "readable_ref_rating", "ces_ref": "readable_ref_opinion_scale"})
	channeltest.Benchmark(b, s, request(Sign(vecSecret, body), body), []string{"old-secret", vecSecret}, time.Now(), 3)
}

// A partial response (a respondent still answering) is ignored on purpose.
func TestCatalogue(t *testing.T) {
	nps := strings.Replace(string(channeltest.Fixture(t, "nps_response.json")), `"form_response",`, `"form_response_partial",`, 1)
	channeltest.IgnoresOne(t, mustNew(t, channel.Options{"nps_ref": "nps"}), request("", []byte(nps)), "form_response_partial")
	channeltest.Documented(t, "form_response", "form_response_partial")
}
