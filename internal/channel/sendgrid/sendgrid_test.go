package sendgrid

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/channeltest"
)

// The published vector of sendgrid-go's helpers/eventwebhook tests; its
// payload is testdata/vector.json (note the trailing CRLF).
const (
	vecKey = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
	vecSig = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
	vecTS  = 1600112502
)

func request(sig string, ts int64, body []byte) channel.Request {
	req := channeltest.Request(body, HeaderSignature, sig)
	if ts != 0 {
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	}
	return req
}

// signer is a test key pair standing in for SendGrid's.
type signer struct {
	priv   *ecdsa.PrivateKey
	secret string
}

func newSigner(t testing.TB) signer {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return signer{priv, base64.StdEncoding.EncodeToString(der)}
}

func (s signer) sign(t testing.TB, ts int64, body []byte) string {
	sum := sha256.Sum256(append([]byte(strconv.FormatInt(ts, 10)), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, s.priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func TestVerify(t *testing.T) {
	vecBody := channeltest.Fixture(t, "vector.json")
	at := time.Unix(vecTS, 0)
	signer, other := newSigner(t), newSigner(t)
	body := channeltest.Fixture(t, "events.json")
	now := time.Unix(1513299600, 0)
	good := signer.sign(t, now.Unix(), body)
	pem := "-----BEGIN PUBLIC KEY-----\n" + signer.secret[:40] + "\n" + signer.secret[40:] + "\n-----END PUBLIC KEY-----\n"
	s := channeltest.Signing{
		Sign: func(b []byte, when time.Time) channel.Request {
			return request(signer.sign(t, when.Unix(), b), when.Unix(), b)
		},
		Body:   body,
		Secret: signer.secret, Other: other.secret, At: now, Tolerance: Tolerance,
	}
	channeltest.Verify(t, Scheme{}, s,
		channeltest.VerifyCase{Name: "published vector", Req: request(vecSig, vecTS, vecBody), Secrets: []string{vecKey}, Now: at},
		channeltest.VerifyCase{Name: "published vector without its trailing CRLF", Req: request(vecSig, vecTS, vecBody[:len(vecBody)-2]), Secrets: []string{vecKey}, Now: at, Want: channel.ErrSignature},
		channeltest.VerifyCase{Name: "key given as PEM", Req: request(good, now.Unix(), body), Secrets: []string{pem}, Now: now},
		s.Case("tampered timestamp", request(good, now.Unix()+1, body), channel.ErrSignature),
		s.Case("missing signature", request("", now.Unix(), body), channel.ErrSignature),
		s.Case("missing timestamp", request(good, 0, body), channel.ErrSignature),
		s.Case("signature not base64", request("!!", now.Unix(), body), channel.ErrSignature),
		s.Case("signature not DER", request(base64.StdEncoding.EncodeToString([]byte("nope")), now.Unix(), body), channel.ErrSignature),
	)
}

// The Signer the local stack and ocx sign use produces requests Verify
// accepts: a P-256 key pair, the private half signing.
func TestSigner(t *testing.T) {
	channeltest.SignerRoundTrip(t, Scheme{}, request("", 0, channeltest.Fixture(t, "events.json")))
}

func TestVerifyBadKeyIsAConfigurationError(t *testing.T) {
	body := channeltest.Fixture(t, "vector.json")
	for _, key := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("not a key"))} {
		err := Scheme{}.Verify(request(vecSig, vecTS, body), []string{key}, time.Unix(vecTS, 0))
		if err == nil || errors.Is(err, channel.ErrSignature) || strings.Contains(err.Error(), key) {
			t.Errorf("key %q: %v", key, err)
		}
	}
}

// sendgrid-go's verifier must accept what verifies here and reject what
// does not, and read the key the same way.
func TestCrossCheckWithSendgridGo(t *testing.T) {
	libKey, err := eventwebhook.ConvertPublicKeyBase64ToECDSA(vecKey)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := PublicKey(vecKey)
	if err != nil || !ours.Equal(libKey) {
		t.Fatalf("keys differ: %v", err)
	}
	s := newSigner(t)
	sKey, _ := eventwebhook.ConvertPublicKeyBase64ToECDSA(s.secret)
	body := channeltest.Fixture(t, "events.json")
	vecBody := channeltest.Fixture(t, "vector.json")
	now := time.Unix(1513299600, 0)
	good := s.sign(t, now.Unix(), body)
	for _, c := range []struct {
		key    string
		libKey *ecdsa.PublicKey
		sig    string
		ts     int64
		body   []byte
	}{
		{vecKey, libKey, vecSig, vecTS, vecBody},
		{vecKey, libKey, vecSig, vecTS, vecBody[:len(vecBody)-1]},
		{vecKey, libKey, vecSig, vecTS + 1, vecBody},
		{s.secret, sKey, good, now.Unix(), body},
		{s.secret, sKey, good, now.Unix(), body[1:]},
		{s.secret, sKey, vecSig, now.Unix(), body},
		{vecKey, libKey, good, now.Unix(), body},
	} {
		libOK, _ := eventwebhook.VerifySignature(c.libKey, c.body, c.sig, strconv.FormatInt(c.ts, 10))
		oursOK := Scheme{}.Verify(request(c.sig, c.ts, c.body), []string{c.key}, time.Unix(c.ts, 0)) == nil
		if libOK != oursOK {
			t.Errorf("ts %d body %.20q: sendgrid-go says %v, OCX says %v", c.ts, c.body, libOK, oursOK)
		}
	}
}

func TestParseFixture(t *testing.T) {
	d, err := Scheme{}.Parse(channel.Request{Body: channeltest.Fixture(t, "events.json")})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.MatchSchemas(t, d)
	if d.ID != "" {
		t.Errorf("delivery id %q, want empty (SendGrid sends none)", d.ID)
	}
	at := time.Unix(1513299569, 0).UTC()
	const msg = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
	ua := "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)"
	base := func(ev, id string, more map[string]any) map[string]any {
		a := map[string]any{"provider_event": ev, "sg_event_id": id, "sg_message_id": msg, "smtp_id": "<14c5d75ce93.dfd.64b469@ismtpd-555>", "category": "cat facts"}
		for k, v := range more {
			a[k] = v
		}
		return a
	}
	want := []struct {
		id, typ string
		attrs   map[string]any
	}{
		{"2FeCcG5VRWpck6mKqRgnDg==", "email.sent", base("processed", "2FeCcG5VRWpck6mKqRgnDg==", nil)},
		{"qK1MxfAaE_ukyyNsjxTpkw==", "email.deferred", base("deferred", "qK1MxfAaE_ukyyNsjxTpkw==", map[string]any{"response": "400 try again later", "attempt": 5})},
		{"hqFbp3HH9WxIM0R2-x2M1Q==", "email.delivered", base("delivered", "hqFbp3HH9WxIM0R2-x2M1Q==", map[string]any{"response": "250 OK"})},
		{"wZ2UyTj6tbuZDfs_p9Y-8A==", "email.opened", base("open", "wZ2UyTj6tbuZDfs_p9Y-8A==", map[string]any{"useragent": ua, "sg_machine_open": false})},
		{"RUhyLNSBxwBUvTiOIYEe3Q==", "email.clicked", base("click", "RUhyLNSBxwBUvTiOIYEe3Q==", map[string]any{"useragent": ua, "url": "http://www.sendgrid.com/", "url_offset": map[string]any{"index": 0.0, "type": "html"}})},
		{"b_syL8TW0nApSYaEVRgVfQ==", "email.bounced", base("bounce", "b_syL8TW0nApSYaEVRgVfQ==", map[string]any{"type": "bounce", "bounce_classification": "Invalid Address", "reason": "500 unknown recipient", "status": "5.0.0"})},
		{"2bl4JAUk2FSAlttOoUm4kA==", "email.dropped", base("dropped", "2bl4JAUk2FSAlttOoUm4kA==", map[string]any{"reason": "Bounced Address", "status": "5.0.0"})},
		{"6RG2yqZ4UXvGRUSLxUbjBg==", "email.spam_reported", base("spamreport", "6RG2yqZ4UXvGRUSLxUbjBg==", map[string]any{"custom_args": map[string]any{"user_id": "u-1001"}})},
		{"sZ7XYPIUu0O8blwIdBdBAg==", "email.unsubscribed", base("unsubscribe", "sZ7XYPIUu0O8blwIdBdBAg==", nil)},
		{"Uf4x4_kyVa2GSGNcqHGLxA==", "email.unsubscribed", base("group_unsubscribe", "Uf4x4_kyVa2GSGNcqHGLxA==", map[string]any{"asm_group_id": 10.0})},
	}
	if len(d.Events) != len(want) {
		t.Fatalf("got %d events, want %d", len(d.Events), len(want))
	}
	for i, w := range want {
		e := d.Events[i]
		if e.ID != w.id || e.Type != w.typ || !e.OccurredAt.Equal(at) || e.OccurredAt.Location() != time.UTC {
			t.Errorf("event %d: id %q type %q at %v, want %q %q %v", i, e.ID, e.Type, e.OccurredAt, w.id, w.typ, at)
		}
		if e.Customer.Email != "example@test.com" || e.Customer.ID != "" || e.Customer.Phone != "" {
			t.Errorf("event %d: customer %+v", i, e.Customer)
		}
		if !reflect.DeepEqual(e.Attributes, w.attrs) {
			t.Errorf("event %d attributes\n got %#v\nwant %#v", i, e.Attributes, w.attrs)
		}
	}
	// Every event SendGrid documents is mapped, except a group
	// resubscription, which is ignored on purpose.
	if len(d.Rejects) != 0 || len(d.Ignored) != 1 || d.Ignored[0] != (channel.Ignored{Index: 10, Type: "group_resubscribe"}) {
		t.Fatalf("rejects %+v, ignored %+v; want item 10 ignored", d.Rejects, d.Ignored)
	}
	var all []string
	for k := range types {
		all = append(all, k)
	}
	channeltest.Documented(t, append(all, Ignored...)...)
}

func TestParseItems(t *testing.T) {
	cases := []struct {
		name, body string
		events     int
		reason     string
	}{
		{"published vector", string(channeltest.Fixture(t, "vector.json")), 1, ""},
		{"one bad item never sinks the rest", `[{"event":"delivered","email":"a@b.c","timestamp":1},{"event":"delivered","timestamp":1}]`, 1, "sendgrid delivered event has no email"},
		{"not an object", `[1]`, 0, "not a JSON object"},
		{"no event", `[{"email":"a@b.c","timestamp":1}]`, 0, "has no event"},
		{"no timestamp", `[{"event":"open","email":"a@b.c"}]`, 0, "no unix timestamp"},
		{"fractional timestamp", `[{"event":"open","email":"a@b.c","timestamp":1.5}]`, 0, "no unix timestamp"},
		{"click without url", `[{"event":"click","email":"a@b.c","timestamp":1}]`, 0, "click event has no url"},
		{"unknown event", `[{"event":"teleported","email":"a@b.c","timestamp":1}]`, 0, `unknown sendgrid event type "teleported"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Scheme{}.Parse(channel.Request{Body: []byte(c.body)})
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Events) != c.events {
				t.Fatalf("got %d events, want %d (rejects %+v)", len(d.Events), c.events, d.Rejects)
			}
			if c.reason == "" && len(d.Rejects) != 0 || c.reason != "" && (len(d.Rejects) != 1 || !strings.Contains(d.Rejects[0].Reason, c.reason)) {
				t.Fatalf("rejects %+v, want one containing %q", d.Rejects, c.reason)
			}
			channeltest.MatchSchemas(t, d)
		})
	}
	for _, bad := range []string{``, `{"event":"open"}`, `[`, `[]`, `not json`} {
		channeltest.Malformed(t, Scheme{}, channel.Request{Body: []byte(bad)})
	}
}

func TestRegistered(t *testing.T) { channeltest.Registered(t, Kind, nil) }

func FuzzVerifyAndParse(f *testing.F) {
	f.Add(vecSig, int64(vecTS), channeltest.Fixture(f, "vector.json"))
	f.Add(vecSig, int64(vecTS), channeltest.Fixture(f, "events.json"))
	f.Add("", int64(-1), []byte(`[{"event":"click","timestamp":1e400}]`))
	f.Add("MEUC", int64(1), []byte(`[null,{},[],"x"]`))
	inv := channeltest.Invariants{Secrets: []string{vecKey}, Now: time.Unix(vecTS, 0)}
	f.Fuzz(func(t *testing.T, sig string, ts int64, body []byte) {
		d := inv.Check(t, Scheme{}, request(sig, ts, body))
		for _, e := range d.Events {
			if e.Customer.Email == "" || e.Attributes["provider_event"] == nil {
				t.Fatalf("incomplete draft %+v", e)
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	s := newSigner(b)
	body := channeltest.Fixture(b, "events.json")
	now := time.Unix(1513299600, 0)
	channeltest.Benchmark(b, Scheme{}, request(s.sign(b, now.Unix(), body), now.Unix(), body), []string{s.secret}, now, 8)
}
