package twilio

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/channeltest"
)

// Twilio's published vectors: the "Secure your webhooks" code samples
// (TwilioDevEd/api-snippets security/signature_validation) and the
// RequestValidator tests of twilio-go. Auth token "12345" in both.
const (
	vecToken = "12345"
	vecURL   = "https://mycompany.com/myapp.php?foo=1&bar=2"
)

var (
	// api-snippets signature_validation.3.x.js.
	vecDocsParams = url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675310"},
		"Digits":  {"1234"},
		"From":    {"+14158675310"},
		"To":      {"+18005551212"},
	}
	vecDocsSig = "GvWf1cFY/Q7PnoempGyD5oXAezc="
	// twilio-go client/request_validator_test.go.
	vecLibParams = url.Values{
		"Digits":                {"1234"},
		"CallSid":               {"CA1234567890ABCDE"},
		"To":                    {"+18005551212"},
		"Caller":                {"+14158675309"},
		"From":                  {"+14158675309"},
		"ReasonConferenceEnded": {"test"},
		"Reason":                {"Participant"},
	}
	vecLibSig      = "vOEb5UThFn24KEfnOFLQY2AE5FY="
	vecLibHTTPSig  = "n2xBNyzSW7rfYStDtOFiFMv7qNo="
	vecJSONBody    = `{"property": "value", "boolean": true}`
	vecBodyHash    = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
	vecJSONSig     = "a9nBmqA0ju/hNViExpshrM61xv4="
	vecJSONOnlySig = "y77kIzt2vzLz71DgmJGsen2scGs="
	vecFormBody    = "property=value&boolean=true"
	vecFormSig     = "NBdBDr/T/lgjI+tlgpXjKZQZs/k="
)

func request(rawURL, sig, body string) channel.Request {
	req := channeltest.Request([]byte(body), HeaderSignature, sig)
	req.URL = rawURL
	return req
}

func readFixture(t testing.TB, name string) string { return string(channeltest.Fixture(t, name)) }

func TestSignMatchesPublishedVectors(t *testing.T) {
	cases := []struct {
		name   string
		url    string
		params url.Values
		want   string
	}{
		{"docs sample", vecURL, vecDocsParams, vecDocsSig},
		{"library sample", vecURL, vecLibParams, vecLibSig},
		{"library sample over http", strings.Replace(vecURL, "https", "http", 1), vecLibParams, vecLibHTTPSig},
		{"library form body", vecURL, url.Values{"property": {"value"}, "boolean": {"true"}}, vecFormSig},
		{"library JSON body: URL only", vecURL + "&bodySHA256=" + vecBodyHash, nil, vecJSONSig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Sign(vecToken, c.url, c.params); got != c.want {
				t.Fatalf("Sign = %s, want %s", got, c.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	form := vecDocsParams.Encode()
	jsonURL := vecURL + "&bodySHA256=" + vecBodyHash
	s := channeltest.Signing{
		Sign: func(b []byte, _ time.Time) channel.Request {
			p, _ := url.ParseQuery(string(b))
			return request(vecURL, Sign(vecToken, vecURL, p), string(b))
		},
		Body:   []byte(form),
		Secret: vecToken, Other: "54321", At: time.Unix(1700000000, 0),
		Tamper: func(b []byte) []byte { return []byte(strings.Replace(string(b), "1234", "1235", 1)) },
	}
	channeltest.Verify(t, Scheme{}, s,
		s.Case("published vector", request(vecURL, vecDocsSig, form), nil),
		s.Case("library form body", request(vecURL, vecFormSig, vecFormBody), nil),
		s.Case("library JSON body", request(jsonURL, vecJSONSig, vecJSONBody), nil),
		s.Case("JSON body, URL without other params", request("https://mycompany.com/myapp.php?bodySHA256="+vecBodyHash, vecJSONOnlySig, vecJSONBody), nil),
		s.Case("URL has a port the signature lacks", request(strings.Replace(vecURL, ".com", ".com:1234", 1), vecLibSig, vecLibParams.Encode()), nil),
		s.Case("signature over the default port", request(vecURL, Sign(vecToken, "https://mycompany.com:443/myapp.php?foo=1&bar=2", vecDocsParams), form), nil),
		s.Case("parameter order on the wire does not matter", request(vecURL, vecDocsSig, "To=%2B18005551212&From=%2B14158675310&Digits=1234&Caller=%2B14158675310&CallSid=CA1234567890ABCDE"), nil),
		s.Case("added parameter", request(vecURL, vecDocsSig, form+"&Extra=1"), channel.ErrSignature),
		s.Case("tampered URL", request(strings.Replace(vecURL, "foo=1", "foo=2", 1), vecDocsSig, form), channel.ErrSignature),
		s.Case("tampered JSON body", request(jsonURL, vecJSONSig, `{"property": "value", "boolean": false}`), channel.ErrSignature),
		s.Case("JSON body hash right, signature wrong", request(jsonURL, vecDocsSig, vecJSONBody), channel.ErrSignature),
		s.Case("missing header", request(vecURL, "", form), channel.ErrSignature),
		s.Case("missing URL", request("", vecDocsSig, form), channel.ErrSignature),
		s.Case("bad form body", request(vecURL, vecDocsSig, "a=%zz"), channel.ErrSignature),
	)
}

// The Signer the local stack and ocx sign use produces requests Verify
// accepts, for form posts and for JSON bodies.
func TestSigner(t *testing.T) {
	channeltest.SignerRoundTrip(t, Scheme{}, request("https://ocx.example/v1/webhooks/sms", "", readFixture(t, "inbound_sms.form")))
	asJSON := request("https://ocx.example/v1/webhooks/sms?x=1", "", `{"MessageSid":"SM9","MessageStatus":"undelivered","To":"+15558675310"}`)
	asJSON.Header.Set("Content-Type", "application/json")
	channeltest.SignerRoundTrip(t, Scheme{}, asJSON)
}

// twilio-go's RequestValidator must accept what OCX signs, and OCX must
// accept exactly what it accepts.
func TestCrossCheckWithTwilioGo(t *testing.T) {
	lib := twclient.NewRequestValidator(vecToken)
	for _, name := range channeltest.Fixtures(t, "*.form") {
		body := readFixture(t, name)
		params, err := url.ParseQuery(body)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"https://ocx.example/v1/webhooks/sms", "https://ocx.example:8443/v1/webhooks/sms?x=1", "http://ocx.example/v1/webhooks/sms"} {
			sig := Sign(vecToken, u, params)
			if !lib.ValidateBody(u, []byte(body), sig) {
				t.Errorf("%s %s: twilio-go rejects OCX's signature", name, u)
			}
			if err := (Scheme{}).Verify(request(u, sig, body), []string{vecToken}, time.Now()); err != nil {
				t.Errorf("%s %s: OCX rejects its own signature: %v", name, u, err)
			}
		}
	}
	// Differential: both verifiers agree on the published vectors and on
	// tampered variants of them.
	jsonURL := vecURL + "&bodySHA256=" + vecBodyHash
	for _, c := range []struct{ url, body, sig string }{
		{vecURL, vecDocsParams.Encode(), vecDocsSig},
		{vecURL, vecLibParams.Encode(), vecLibSig},
		{strings.Replace(vecURL, ".com", ".com:1234", 1), vecLibParams.Encode(), vecLibSig},
		{vecURL, vecFormBody, vecFormSig},
		{jsonURL, vecJSONBody, vecJSONSig},
		{vecURL, vecFormBody + "x", vecFormSig},
		{jsonURL, vecJSONBody + " ", vecJSONSig},
		{vecURL, vecJSONBody, vecJSONSig},
		{strings.Replace(vecURL, "bar", "baz", 1), vecFormBody, vecFormSig},
	} {
		libOK := lib.ValidateBody(c.url, []byte(c.body), c.sig)
		ours := (Scheme{}).Verify(request(c.url, c.sig, c.body), []string{vecToken}, time.Now()) == nil
		if libOK != ours {
			t.Errorf("%s %q: twilio-go says %v, OCX says %v", c.url, c.body, libOK, ours)
		}
	}
}

func TestParseFixtures(t *testing.T) {
	callAt := time.Date(2010, 8, 16, 3, 45, 1, 0, time.UTC)
	cases := []struct {
		file     string
		delivery string
		typ      string
		phone    string
		at       time.Time
		attrs    map[string]any
	}{
		{"inbound_sms.form", "SM1f0e8ae6ade43cb3c0ce4525424e404f:received", TypeMessageReceived, "+14017122661", time.Time{}, map[string]any{
			"provider_event": "received", "message_sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "status": "received",
			"account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "from": "+14017122661", "to": "+15558675310",
			"body": "My order never arrived. Can someone call me?", "num_media": 0, "num_segments": 1,
		}},
		{"status_delivered.form", "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:delivered", TypeMessageDelivered, "+15558675310", time.Time{}, map[string]any{
			"provider_event": "delivered", "message_sid": "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "status": "delivered",
			"account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "from": "+15017250604", "to": "+15558675310", "raw_dlr_done_date": "2302141653",
		}},
		{"status_undelivered.form", "SMYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY:undelivered", TypeMessageUndelivered, "+15558675310", time.Time{}, map[string]any{
			"provider_event": "undelivered", "message_sid": "SMYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY", "status": "undelivered",
			"account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "from": "+15017250604", "to": "+15558675310", "error_code": 30003,
		}},
		{"status_failed.form", "SMZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ:failed", TypeMessageFailed, "+15558675310", time.Time{}, map[string]any{
			"provider_event": "failed", "message_sid": "SMZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", "status": "failed",
			"account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "messaging_service_sid": "MGXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
			"from": "+15017250604", "to": "+15558675310", "error_code": 30008,
		}},
		{"call_completed.form", "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:completed", TypeCallCompleted, "+15558675310", callAt, map[string]any{
			"provider_event": "completed", "call_sid": "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "status": "completed",
			"account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "direction": "outbound-api", "from": "+15017250604", "to": "+15558675310",
			"duration": 42, "callback_source": "call-progress-events", "sequence_number": 3,
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			d, e := channeltest.ParseOne(t, Scheme{}, request("https://ocx.example/v1/webhooks/sms", "", readFixture(t, c.file)))
			if d.ID != c.delivery || e.ID != c.delivery {
				t.Errorf("delivery id %q, draft id %q, want %q", d.ID, e.ID, c.delivery)
			}
			if e.Type != c.typ || e.Customer.Phone != c.phone || e.Customer.Email != "" || e.Customer.ID != "" {
				t.Errorf("type %q customer %+v, want %q phone %q", e.Type, e.Customer, c.typ, c.phone)
			}
			if !e.OccurredAt.Equal(c.at) || (!c.at.IsZero() && e.OccurredAt.Location() != time.UTC) {
				t.Errorf("occurred_at %v, want %v UTC", e.OccurredAt, c.at)
			}
			if !reflect.DeepEqual(e.Attributes, c.attrs) {
				t.Errorf("attributes\n got %#v\nwant %#v", e.Attributes, c.attrs)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct {
		name, body, delivery, reason string
	}{
		{"unknown message status", strings.ReplaceAll(readFixture(t, "status_sent.form"), "=sent", "=teleported"), "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:teleported", `unknown twilio message status "teleported"`},
		{"unknown call status", strings.Replace(readFixture(t, "call_busy.form"), "=busy", "=on-hold", 1), "CAWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW:on-hold", `unknown twilio call status "on-hold"`},
		{"neither message nor call", "Foo=bar", "", "neither MessageSid nor CallSid"},
		{"message without status", "MessageSid=SM1&To=%2B15558675310", "", "has no MessageStatus"},
		{"inbound without sender", "MessageSid=SM1&SmsStatus=received&Body=hi", "SM1:received", "no customer number"},
		{"call without status", "CallSid=CA1&To=%2B15558675310", "", "has no CallStatus"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := channeltest.RejectsWhole(t, Scheme{}, request("https://ocx.example/x", "", c.body), c.reason)
			if d.ID != c.delivery {
				t.Errorf("delivery id %q, want %q", d.ID, c.delivery)
			}
		})
	}
}

// Every status Twilio documents is mapped or ignored on purpose. The
// documented status callback (status_sent.form) is sent with each
// intermediate status; a busy, unanswered, failed or cancelled call is
// call.missed; a read receipt is message.read.
func TestCatalogue(t *testing.T) {
	sent := readFixture(t, "status_sent.form")
	for _, st := range IgnoredMessageStatuses {
		body := strings.ReplaceAll(sent, "=sent", "="+st)
		d := channeltest.IgnoresOne(t, Scheme{}, request("https://ocx.example/x", "", body), "message."+st)
		if d.ID != "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:"+st {
			t.Errorf("%s: delivery id %q", st, d.ID)
		}
	}
	busy := readFixture(t, "call_busy.form")
	for _, st := range IgnoredCallStatuses {
		channeltest.IgnoresOne(t, Scheme{}, request("https://ocx.example/x", "", strings.Replace(busy, "=busy", "="+st, 1)), "call."+st)
	}
	for _, st := range []string{"busy", "no-answer", "failed", "canceled"} {
		_, e := channeltest.ParseOne(t, Scheme{}, request("https://ocx.example/x", "", strings.Replace(busy, "=busy", "="+st, 1)))
		if e.Type != TypeCallMissed || e.Customer.Phone != "+15558675310" || e.Attributes["direction"] != "outbound-api" {
			t.Errorf("%s: %+v", st, e)
		}
	}
	_, e := channeltest.ParseOne(t, Scheme{}, request("https://ocx.example/x", "", strings.ReplaceAll(sent, "=sent", "=read")))
	if e.Type != TypeMessageRead || e.Customer.Phone != "+15558675310" {
		t.Errorf("read: %+v", e)
	}
	var types []string
	for _, st := range IgnoredMessageStatuses {
		types = append(types, "message."+st)
	}
	for _, st := range IgnoredCallStatuses {
		types = append(types, "call."+st)
	}
	channeltest.Documented(t, types...)
}

func TestParseOtherEncodings(t *testing.T) {
	// A GET callback carries its parameters in the URL.
	if _, e := channeltest.ParseOne(t, Scheme{}, request("https://ocx.example/sms?MessageSid=SM9&SmsStatus=received&From=%2B14017122661&To=%2B15558675310&Body=hi", "", "")); e.Attributes["body"] != "hi" {
		t.Fatalf("GET callback: %+v", e)
	}
	// A JSON object body uses the same parameter names.
	if _, e := channeltest.ParseOne(t, Scheme{}, request("https://ocx.example/sms?bodySHA256=x", "", `{"MessageSid":"SM9","MessageStatus":"undelivered","To":"+15558675310","ErrorCode":30005}`)); e.Attributes["error_code"] != 30005 {
		t.Fatalf("JSON body: %+v", e)
	}
	for _, bad := range []string{"a=%zz", `{"MessageSid":`} {
		channeltest.Malformed(t, Scheme{}, request("https://ocx.example/sms", "", bad))
	}
}

func TestRegistered(t *testing.T) { channeltest.Registered(t, Kind, nil) }

func FuzzVerifyAndParse(f *testing.F) {
	const u = "https://ocx.example/v1/webhooks/sms"
	for _, name := range channeltest.Fixtures(f, "*.form") {
		body := readFixture(f, name)
		p, _ := url.ParseQuery(body)
		f.Add(u, Sign(vecToken, u, p), body)
	}
	f.Add(vecURL+"&bodySHA256="+vecBodyHash, vecJSONSig, vecJSONBody)
	f.Add("http://[::1]:80/x?bodySHA256=zz", "", `{"CallSid":1,"CallStatus":"completed"}`)
	f.Add("%", "x", "%%")
	inv := channeltest.Invariants{Secrets: []string{vecToken}, Now: time.Now(), OneItem: true}
	f.Fuzz(func(t *testing.T, rawURL, sig, body string) {
		d := inv.Check(t, Scheme{}, request(rawURL, sig, body))
		for _, e := range d.Events {
			if e.ID == "" || e.Attributes["provider_event"] == nil {
				t.Fatalf("incomplete draft %+v", e)
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	const u = "https://ocx.example/v1/webhooks/sms"
	body := readFixture(b, "inbound_sms.form")
	p, _ := url.ParseQuery(body)
	channeltest.Benchmark(b, Scheme{}, request(u, Sign(vecToken, u, p), body), []string{"old-token", vecToken}, time.Now(), 1)
}

func TestSignRepeatedParameters(t *testing.T) {
	// Twilio's Node and Python validators: distinct values, sorted.
	got := Sign(vecToken, vecURL, url.Values{"MediaUrl": {"b", "a", "b"}, "A": {"1"}})
	want := Sign(vecToken, vecURL+"A1MediaUrlaMediaUrlb", nil)
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}
