package standardwebhooks

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	swlib "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/channeltest"
)

// The spec's published vector.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func request(id string, ts int64, sig, body string) channel.Request {
	return channeltest.Request([]byte(body), HeaderID, id, HeaderTimestamp, strconv.FormatInt(ts, 10), HeaderSignature, sig)
}

func TestRegistered(t *testing.T) { channeltest.Registered(t, Kind, nil) }

func TestSignMatchesPublishedVector(t *testing.T) {
	key, err := DecodeSecret(vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := "v1," + Sign(key, vecID, vecTS, []byte(vecBody)); got != vecSig {
		t.Fatalf("Sign = %s, want %s", got, vecSig)
	}
}

func TestVerify(t *testing.T) {
	key, err := DecodeSecret(vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	s := channeltest.Signing{
		Sign: func(b []byte, when time.Time) channel.Request {
			return request(vecID, when.Unix(), "v1,"+Sign(key, vecID, when.Unix(), b), string(b))
		},
		Body:   []byte(vecBody),
		Secret: vecSecret, Other: EncodeSecret([]byte("another key of thirty-two bytes!")), At: time.Unix(vecTS, 0), Tolerance: Tolerance,
		Tamper: func(b []byte) []byte { return []byte(strings.Replace(string(b), "2432232314", "2432232315", 1)) },
	}
	channeltest.Verify(t, Scheme{}, s,
		s.Case("published vector", request(vecID, vecTS, vecSig, vecBody), nil),
		s.Case("several signatures, one valid", request(vecID, vecTS, "v1,bm9wZQ== v1a,xyz "+vecSig, vecBody), nil),
		s.Case("tampered id", request("msg_other", vecTS, vecSig, vecBody), channel.ErrSignature),
		s.Case("unknown version only", request(vecID, vecTS, "v2,"+vecSig[3:], vecBody), channel.ErrSignature),
		s.Case("missing headers", channeltest.Request([]byte(vecBody)), channel.ErrSignature),
	)
}

// The Signer the local stack and ocx sign use produces requests Verify accepts.
func TestSigner(t *testing.T) {
	channeltest.SignerRoundTrip(t, Scheme{}, channeltest.Request([]byte(`{"type":"order.created","customer":{"id":"u1"},"occurred_at":"2026-11-23T08:00:00Z"}`)))
}

// The reference library must accept what OCX signs and OCX must accept what
// the library signs.
func TestCrossCheckWithReferenceLibrary(t *testing.T) {
	wh, err := swlib.NewWebhook(vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := []byte(`{"type":"order.created","customer":{"id":"u1"},"occurred_at":"2026-11-23T08:00:00Z"}`)
	libSig, err := wh.Sign("msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Scheme{}).Verify(request("msg_1", now.Unix(), libSig, string(body)), []string{vecSecret}, now); err != nil {
		t.Fatalf("OCX rejects the library's signature: %v", err)
	}
	key, _ := DecodeSecret(vecSecret)
	req := request("msg_1", now.Unix(), "v1,"+Sign(key, "msg_1", now.Unix(), body), string(body))
	if err := wh.Verify(body, req.Header); err != nil {
		t.Fatalf("library rejects OCX's signature: %v", err)
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		events int
		bad    bool
	}{
		{"one event", `{"type":"survey.responded","customer":{"email":"a@b.c"},"occurred_at":"2026-11-23T08:00:00Z","attributes":{"survey":"nps","score":3}}`, 1, false},
		{"array", `[{"type":"order.created","customer":{"id":"u1"},"occurred_at":"2026-11-23T08:00:00Z"},{"type":"order.shipped","customer":{"phone":"+15551234567"},"occurred_at":"2026-11-23T09:00:00+01:00"}]`, 2, false},
		{"not json", `{"type":`, 0, true},
		{"trailing data", `{"type":"a.b","customer":{"id":"1"},"occurred_at":"2026-11-23T08:00:00Z"} x`, 0, true},
		{"trailing bracket", `{"type":"a.b","customer":{"id":"1"},"occurred_at":"2026-11-23T08:00:00Z"} ]`, 0, true},
		{"empty array", `[]`, 0, true},
		{"no type", `{"customer":{"id":"1"},"occurred_at":"2026-11-23T08:00:00Z"}`, 0, true},
		{"bad type", `{"type":"Order Created","customer":{"id":"1"},"occurred_at":"2026-11-23T08:00:00Z"}`, 0, true},
		{"no customer", `{"type":"a.b","customer":{},"occurred_at":"2026-11-23T08:00:00Z"}`, 0, true},
		{"no occurred_at", `{"type":"a.b","customer":{"id":"1"}}`, 0, true},
		{"bad occurred_at", `{"type":"a.b","customer":{"id":"1"},"occurred_at":"yesterday"}`, 0, true},
		{"nps out of range", `{"type":"survey.responded","customer":{"id":"1"},"occurred_at":"2026-11-23T08:00:00Z","attributes":{"survey":"nps","score":11}}`, 0, true},
		{"nps not integer", `{"type":"survey.responded","customer":{"id":"1"},"occurred_at":"2026-11-23T08:00:00Z","attributes":{"survey":"nps","score":6.5}}`, 0, true},
		{"unknown survey", `{"type":"survey.responded","customer":{"id":"1"},"occurred_at":"2026-11-23T08:00:00Z","attributes":{"survey":"x","score":1}}`, 0, true},
		{"one bad item sinks the request", `[{"type":"a.b","customer":{"id":"1"},"occurred_at":"2026-11-23T08:00:00Z"},{"type":"a.b"}]`, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := request("msg_9", 0, "", c.body)
			if c.bad {
				channeltest.Malformed(t, Scheme{}, req)
				return
			}
			d, err := Scheme{}.Parse(req)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Events) != c.events || d.ID != "msg_9" {
				t.Fatalf("got %d events, id %q", len(d.Events), d.ID)
			}
			for _, e := range d.Events {
				if e.OccurredAt.Location() != time.UTC {
					t.Errorf("occurred_at not normalised to UTC: %v", e.OccurredAt)
				}
			}
		})
	}
}

func FuzzVerifyAndParse(f *testing.F) {
	f.Add(vecID, int64(vecTS), vecSig, vecBody)
	f.Add("m", int64(0), "v1,", `[{"type":"a.b","customer":{"id":"1"},"occurred_at":"2026-11-23T08:00:00Z"}]`)
	f.Add("", int64(-1), "v1 v1,,", `{"attributes":{"survey":"nps","score":1e400}}`)
	inv := channeltest.Invariants{Secrets: []string{vecSecret}, Now: time.Unix(vecTS, 0)}
	f.Fuzz(func(t *testing.T, id string, ts int64, sig, body string) {
		inv.Check(t, Scheme{}, request(id, ts, sig, body))
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	key, _ := DecodeSecret(vecSecret)
	body := `[{"type":"order.created","customer":{"id":"u1"},"occurred_at":"2026-11-23T08:00:00Z"},{"type":"survey.responded","customer":{"email":"a@b.c"},"occurred_at":"2026-11-23T09:00:00Z","attributes":{"survey":"nps","score":3}}]`
	req := request(vecID, vecTS, "v1,"+Sign(key, vecID, vecTS, []byte(body)), body)
	channeltest.Benchmark(b, Scheme{}, req, []string{vecSecret}, time.Unix(vecTS, 0), 2)
}

// The envelope the Standard Webhooks specification recommends (its own
// example, testdata/envelope.json, with an email added) is read beside the
// in-house format: type and timestamp as they are, the customer from the
// channel's paths inside data, data itself as the attributes.
func TestParseEnvelope(t *testing.T) {
	body := channeltest.Fixture(t, "envelope.json")
	k := channeltest.Build[Scheme](t, New, channel.Options{OptionID: "id", OptionEmail: "contact.email,email"})
	d, e := parseOne(t, k, string(body))
	if d.ID != "msg_1" || e.Type != "contact.created" || e.Customer.ID != "1f81eb52-5198-4599-803e-771906343485" ||
		e.Customer.Email != "some.name@example.com" || e.Customer.Phone != "" {
		t.Fatalf("draft %+v", e)
	}
	if !e.OccurredAt.Equal(time.Date(2022, 11, 3, 20, 26, 10, 344522000, time.UTC)) || e.Attributes["name"] != "Some Name" {
		t.Fatalf("draft %+v", e)
	}
	// Without options the customer is looked for at data.customer.*; a
	// 64-bit id keeps every digit.
	_, e = parseOne(t, channeltest.Build[Scheme](t, New, nil),
		`{"type":"survey.responded","timestamp":"2026-11-23T08:00:00Z","data":{"survey":"nps","score":3,"customer":{"id":9007199254740993,"phone":"+447946000000"}}}`)
	if e.Customer.ID != "9007199254740993" || e.Customer.Phone != "+447946000000" || e.Attributes["score"] != json.Number("3") {
		t.Fatalf("default paths: %+v", e)
	}
	// Both formats in one array.
	mixed := `[{"type":"order.created","timestamp":"2026-11-23T08:00:00Z","data":{"customer":{"email":"a@example.com"}}},` +
		`{"type":"order.created","occurred_at":"2026-11-23T08:00:00Z","customer":{"email":"a@example.com"}}]`
	if d, err := (Scheme{paths: [3][]string{nil, {"customer.email"}, nil}}).Parse(request("m", vecTS, "", mixed)); err != nil || len(d.Events) != 2 {
		t.Fatalf("mixed: %v %+v", err, d)
	}
	for name, bad := range map[string]string{
		"no customer at the paths": `{"type":"contact.created","timestamp":"2022-11-03T20:26:10Z","data":{"name":"x"}}`,
		"no timestamp":             `{"type":"contact.created","data":{"id":"1"}}`,
		"bad type":                 `{"type":"Contact Created","timestamp":"2022-11-03T20:26:10Z","data":{"id":"1"}}`,
		"data not an object":       `{"type":"contact.created","timestamp":"2022-11-03T20:26:10Z","data":[1]}`,
	} {
		if _, err := k.Parse(request("m", vecTS, "", bad)); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
}

func parseOne(t *testing.T, k Scheme, body string) (channel.Delivery, channel.Draft) {
	t.Helper()
	d, err := k.Parse(request("msg_1", vecTS, "", body))
	if err != nil || len(d.Events) != 1 {
		t.Fatalf("parse: %v %+v", err, d)
	}
	return d, d.Events[0]
}

func TestOptions(t *testing.T) {
	for _, bad := range []channel.Options{{"customer_ref": "id"}, {OptionEmail: "a..b"}, {OptionID: ""}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%v) accepted", bad)
		}
	}
}
