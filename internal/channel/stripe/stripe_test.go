package stripe

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v83/webhook"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/ingest"
)

const (
	secret  = "whsec_test_secret"
	rolled  = "whsec_rolled_secret"
	fixedTS = 1680644470 // created time of testdata/invoice.payment_failed.json
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
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	return channel.Request{Header: h, Body: body}
}

func TestRegistered(t *testing.T) {
	f, ok := channel.Lookup(Kind)
	if !ok {
		t.Fatal("stripe kind not registered")
	}
	if _, err := f(nil); err != nil {
		t.Fatalf("no options: %v", err)
	}
	if _, err := f(channel.Options{"tolerance": "10m"}); err == nil {
		t.Fatal("an unknown option was accepted")
	}
}

// The Signer the local stack and ocx sign use produces requests Verify accepts.
func TestSigner(t *testing.T) {
	sign, verify := Scheme{}.DemoSecrets("local-stripe")
	if again, _ := (Scheme{}).DemoSecrets("local-stripe"); again != sign || sign != verify {
		t.Fatalf("demo secrets are not fixed and shared: %q %q %q", sign, again, verify)
	}
	otherSign, _ := Scheme{}.DemoSecrets("local-elsewhere")
	now := time.Now()
	req := request("", fixture(t, "charge.failed.json"))
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
	body := fixture(t, "invoice.payment_failed.json")
	at := time.Unix(fixedTS, 0)
	good := Sign(secret, fixedTS, body)
	otherSig := hex.EncodeToString(mac(rolled, fixedTS, body))
	cases := []struct {
		name    string
		req     channel.Request
		secrets []string
		now     time.Time
		want    error
	}{
		{"valid", request(good, body), []string{secret}, at, nil},
		{"rotated: old and new secrets active", request(good, body), []string{rolled, secret}, at, nil},
		{"rolled endpoint secret: two v1 signatures", request("t=1680644470,v1="+otherSig+",v1="+good[len("t=1680644470,v1="):], body), []string{secret}, at, nil},
		{"v0 and unknown schemes ignored", request(good+",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39,x=1", body), []string{secret}, at, nil},
		{"spaces after commas", request(strings.ReplaceAll(good, ",", ", "), body), []string{secret}, at, nil},
		{"tampered body", request(good, []byte(strings.Replace(string(body), "1500", "1501", 1))), []string{secret}, at, channel.ErrSignature},
		{"wrong secret", request(good, body), []string{rolled}, at, channel.ErrSignature},
		{"no secrets", request(good, body), nil, at, channel.ErrSignature},
		{"missing header", request("", body), []string{secret}, at, channel.ErrSignature},
		{"no timestamp", request("v1="+good[len("t=1680644470,v1="):], body), []string{secret}, at, channel.ErrSignature},
		{"timestamp not a number", request("t=yesterday,v1=00", body), []string{secret}, at, channel.ErrSignature},
		{"no v1 signature", request("t=1680644470,v0=00", body), []string{secret}, at, channel.ErrSignature},
		{"v1 not hex", request("t=1680644470,v1=zz", body), []string{secret}, at, channel.ErrSignature},
		{"garbage element", request("t=1680644470;v1=00", body), []string{secret}, at, channel.ErrSignature},
		{"signature for another timestamp", request("t=1680644471,v1="+good[len("t=1680644470,v1="):], body), []string{secret}, at, channel.ErrSignature},
		{"just inside tolerance", request(good, body), []string{secret}, at.Add(Tolerance), nil},
		{"stale", request(good, body), []string{secret}, at.Add(Tolerance + time.Second), channel.ErrStale},
		{"from the future", request(good, body), []string{secret}, at.Add(-Tolerance - time.Second), channel.ErrStale},
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
			if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), rolled)) {
				t.Fatalf("error echoes a secret: %v", err)
			}
		})
	}
}

// stripe-go must accept what OCX signs and OCX must accept what stripe-go
// signs, for every fixture whatever its api_version.
func TestCrossCheckWithStripeGo(t *testing.T) {
	names, _ := filepath.Glob("testdata/*.json")
	now := time.Now()
	for _, n := range names {
		body := fixture(t, filepath.Base(n))
		t.Run(filepath.Base(n), func(t *testing.T) {
			lib := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: now})
			if err := (Scheme{}).Verify(request(lib.Header, body), []string{rolled, secret}, now); err != nil {
				t.Fatalf("OCX rejects stripe-go's signature: %v", err)
			}
			ours := Sign(secret, now.Unix(), body)
			if ours != lib.Header {
				t.Fatalf("Sign = %s, stripe-go = %s", ours, lib.Header)
			}
			if err := webhook.ValidatePayloadWithTolerance(body, ours, secret, Tolerance); err != nil {
				t.Fatalf("stripe-go rejects OCX's signature: %v", err)
			}
			stale := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: now.Add(-Tolerance - time.Minute)})
			if err := (Scheme{}).Verify(request(stale.Header, body), []string{secret}, now); !errors.Is(err, channel.ErrStale) {
				t.Fatalf("stale stripe-go signature: %v", err)
			}
			if err := webhook.ValidatePayloadWithTolerance(body, stale.Header, secret, Tolerance); err == nil {
				t.Fatal("stripe-go accepts a stale signature; tolerance semantics differ")
			}
		})
	}
}

type want struct {
	typ      string
	customer events.Customer
	at       time.Time
	attrs    map[string]any
}

func TestParseFixtures(t *testing.T) {
	cases := map[string]want{
		"invoice.payment_failed.json": {TypeFailed, events.Customer{ID: "cus_NeZwdNtLEOXuvB", Email: "jennyrosen@example.com"}, time.Unix(1680644470, 0), map[string]any{
			"provider_event": "invoice.payment_failed", "invoice_id": "in_1MtHbELkdIwHu7ixl4OzzPMv", "amount": int64(1500), "currency": "USD",
			"attempt_count": int64(2), "billing_reason": "subscription_cycle", "charge_id": "ch_3MmlLrLkdIwHu7ix0snN0B15",
			"payment_intent_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "subscription_id": "sub_1MtHbBLkdIwHu7ixvQo5j1kz",
			"next_payment_attempt": "2023-04-07T21:41:10Z", "livemode": false,
		}},
		"invoice.paid.json": {TypeSucceeded, events.Customer{ID: "cus_NeZwdNtLEOXuvB", Email: "jennyrosen@example.com"}, time.Unix(1680644499, 0), map[string]any{
			"provider_event": "invoice.paid", "invoice_id": "in_1MtHbELkdIwHu7ixl4OzzPMv", "amount": int64(1500), "currency": "USD",
			"subscription_id": "sub_1MtHbBLkdIwHu7ixvQo5j1kz", "status": "paid",
		}},
		"charge.failed.json": {TypeFailed, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jenny.rosen@example.com", Phone: "+15555550100"}, time.Unix(1679090540, 0), map[string]any{
			"provider_event": "charge.failed", "charge_id": "ch_3MmlLrLkdIwHu7ix0snN0B15", "amount": int64(1099), "currency": "USD",
			"failure_code": "card_declined", "failure_message": "Your card was declined.", "reason": "generic_decline",
			"payment_intent_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "invoice_id": "in_1MtHbELkdIwHu7ixl4OzzPMv",
		}},
		"payment_intent.payment_failed.json": {TypeFailed, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jenny.rosen@example.com"}, time.Unix(1680800506, 0), map[string]any{
			"provider_event": "payment_intent.payment_failed", "payment_intent_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "amount": int64(2000),
			"currency": "USD", "failure_code": "card_declined", "decline_code": "insufficient_funds",
			"failure_message": "Your card has insufficient funds.", "charge_id": "ch_3MtwBwLkdIwHu7ix2yB9Kd4c", "payment_method_type": "card",
		}},
		"payment_intent.succeeded.json": {TypeSucceeded, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jenny.rosen@example.com"}, time.Unix(1680800610, 0), map[string]any{
			"provider_event": "payment_intent.succeeded", "payment_intent_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "amount": int64(2000),
			"currency": "USD", "charge_id": "ch_3MtwBwLkdIwHu7ix2nP1xP3w",
		}},
		"charge.refunded.json": {TypeRefunded, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jenny.rosen@example.com"}, time.Unix(1679094123, 0), map[string]any{
			"provider_event": "charge.refunded", "charge_id": "ch_3MmlLrLkdIwHu7ix0snN0B15", "amount": int64(500), "charge_amount": int64(1099),
			"full_refund": false, "refund_id": "re_1Nispe2eZvKYlo2Cd31jOCgZ", "reason": "requested_by_customer", "currency": "USD",
		}},
		"charge.dispute.created.json": {TypeDisputed, events.Customer{Email: "jenny.rosen@example.com"}, time.Unix(1680651737, 0), map[string]any{
			"provider_event": "charge.dispute.created", "dispute_id": "dp_1MtJUT2eZvKYlo2CNaw2HvEv", "amount": int64(1000), "currency": "USD",
			"reason": "fraudulent", "status": "warning_needs_response", "charge_id": "ch_1AZtxr2eZvKYlo2CJDX8whov",
			"payment_intent_id": "pi_3MtJUS2eZvKYlo2C1w2bN5cq",
		}},
		"charge.dispute.closed.json": {TypeDisputeClosed, events.Customer{Email: "jenny.rosen@example.com"}, time.Unix(1682380800, 0), map[string]any{
			"provider_event": "charge.dispute.closed", "dispute_id": "dp_1MtJUT2eZvKYlo2CNaw2HvEv", "status": "lost", "reason": "fraudulent",
		}},
	}
	schemas, err := events.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range cases {
		t.Run(name, func(t *testing.T) {
			body := fixture(t, name)
			var env struct{ ID string }
			_ = json.Unmarshal(body, &env)
			d, err := Scheme{}.Parse(request("", body))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Rejects) != 0 || len(d.Events) != 1 {
				t.Fatalf("got %d events, rejects %+v", len(d.Events), d.Rejects)
			}
			e := d.Events[0]
			if d.ID != env.ID || e.ID != env.ID {
				t.Errorf("delivery id %q, draft id %q, want %q", d.ID, e.ID, env.ID)
			}
			if e.Type != w.typ {
				t.Errorf("type %q, want %q", e.Type, w.typ)
			}
			if e.Customer != w.customer {
				t.Errorf("customer %+v, want %+v", e.Customer, w.customer)
			}
			if !e.OccurredAt.Equal(w.at) || e.OccurredAt.Location() != time.UTC {
				t.Errorf("occurred_at %v, want %v UTC", e.OccurredAt, w.at.UTC())
			}
			for k, v := range w.attrs {
				if got := e.Attributes[k]; !reflect.DeepEqual(got, v) {
					t.Errorf("attributes[%s] = %#v, want %#v", k, got, v)
				}
			}
			// What ingest publishes from this draft satisfies the schema of its type.
			for _, in := range ingest.Canonical("payments", d, "s3://archive/raw/payments/x.json", time.Unix(1690000000, 0)) {
				b, _ := json.Marshal(in)
				doc, _ := jsonschemaDoc(b)
				s, ok := schemas[in.Type]
				if !ok {
					t.Fatalf("no schema for %s", in.Type)
				}
				if err := s.Validate(doc); err != nil {
					t.Errorf("%s does not match its schema: %v\n%s", in.Type, err, b)
				}
			}
		})
	}
}

func jsonschemaDoc(b []byte) (any, error) {
	var v any
	err := json.Unmarshal(b, &v)
	return v, err
}

func TestParseRejects(t *testing.T) {
	unknown := fixture(t, "customer.created.json")
	dispute := strings.Replace(string(fixture(t, "charge.dispute.created.json")), `"customer_email_address": "jenny.rosen@example.com"`, `"customer_email_address": null`, 1)
	cases := []struct {
		name, body, reason string
	}{
		{"unknown type", string(unknown), `unknown stripe event type "customer.created"`},
		{"dispute without customer email", dispute, "carries no customer id or email"},
		{"no id", `{"type":"charge.failed","created":1,"data":{"object":{"id":"ch_1"}}}`, "needs id and type"},
		{"no created", `{"id":"evt_1","type":"charge.failed","data":{"object":{"id":"ch_1","customer":"cus_1"}}}`, "no usable created time"},
		{"created beyond year 9999", `{"id":"evt_1","type":"charge.failed","created":253402300800,"data":{"object":{"id":"ch_1","customer":"cus_1"}}}`, "no usable created time"},
		{"no data.object", `{"id":"evt_1","type":"charge.failed","created":1}`, "no data.object"},
		{"object of the wrong shape", `{"id":"evt_1","type":"charge.failed","created":1,"data":{"object":{"id":"ch_1","amount":"ten"}}}`, "read charge"},
		{"object without id", `{"id":"evt_1","type":"invoice.paid","created":1,"data":{"object":{"customer":"cus_1"}}}`, "invoice has no id"},
		{"envelope of the wrong shape", `{"id":"evt_1","type":"charge.failed","created":"yesterday"}`, "not a stripe event"},
		{"JSON but not an object", `[1,2]`, "not a stripe event"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Scheme{}.Parse(request("", []byte(c.body)))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(d.Events) != 0 || len(d.Rejects) != 1 {
				t.Fatalf("events %d, rejects %d", len(d.Events), len(d.Rejects))
			}
			r := d.Rejects[0]
			if r.Index != 0 || !strings.Contains(r.Reason, c.reason) || string(r.Item) != c.body {
				t.Fatalf("reject %d %q, want reason containing %q and the raw item", r.Index, r.Reason, c.reason)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for _, body := range []string{``, `{"id":`, `not json`, `{"id":"evt_1"} trailing`} {
		if _, err := (Scheme{}).Parse(request("", []byte(body))); !errors.Is(err, channel.ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", body, err)
		}
	}
}

func FuzzVerifyAndParse(f *testing.F) {
	names, _ := filepath.Glob("testdata/*.json")
	for _, n := range names {
		b := fixture(f, filepath.Base(n))
		f.Add(Sign(secret, fixedTS, b), string(b))
	}
	f.Add("t=1,v1=,v1=zz,,=", `{"id":"evt_1","type":"invoice.paid","created":1,"data":{"object":{"customer":{"id":7}}}}`)
	f.Add("t=-9223372036854775808,v1=00", `{"data":{"object":[]}}`)
	f.Fuzz(func(t *testing.T, sig, body string) {
		req := request(sig, []byte(body))
		if err := (Scheme{}).Verify(req, []string{secret}, time.Unix(fixedTS, 0)); err != nil &&
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
			if e.Type == "" || e.ID == "" || e.Customer.Empty() || e.Attributes["provider_event"] == nil || e.OccurredAt.IsZero() {
				t.Fatalf("incomplete draft %+v", e)
			}
			if _, err := json.Marshal(e.Attributes); err != nil {
				t.Fatalf("attributes do not marshal: %v", err)
			}
		}
		for _, r := range d.Rejects {
			if r.Reason == "" || len(r.Item) == 0 {
				t.Fatalf("reject without reason or item: %+v", r)
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	body := fixture(b, "payment_intent.payment_failed.json")
	req := request(Sign(secret, fixedTS, body), body)
	now := time.Unix(fixedTS, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := (Scheme{}).Verify(req, []string{rolled, secret}, now); err != nil {
			b.Fatal(err)
		}
		if d, err := (Scheme{}).Parse(req); err != nil || len(d.Events) != 1 {
			b.Fatal(d, err)
		}
	}
}
