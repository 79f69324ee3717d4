package stripe

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v83/webhook"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/channeltest"
)

const (
	secret  = "whsec_test_secret"
	rolled  = "whsec_rolled_secret"
	fixedTS = 1680644470 // created time of testdata/invoice.payment_failed.json
)

func request(sig string, body []byte) channel.Request {
	return channeltest.Request(body, HeaderSignature, sig)
}

func TestRegistered(t *testing.T) { channeltest.Registered(t, Kind, nil) }

// The Signer the local stack and ocx sign use produces requests Verify accepts.
func TestSigner(t *testing.T) {
	channeltest.SignerRoundTrip(t, Scheme{}, request("", channeltest.Fixture(t, "charge.failed.json")))
}

func TestVerify(t *testing.T) {
	body := channeltest.Fixture(t, "invoice.payment_failed.json")
	at := time.Unix(fixedTS, 0)
	good := Sign(secret, fixedTS, body)
	otherSig := hex.EncodeToString(mac(rolled, fixedTS, body))
	s := channeltest.Signing{
		Sign:   func(b []byte, when time.Time) channel.Request { return request(Sign(secret, when.Unix(), b), b) },
		Body:   body,
		Secret: secret, Other: rolled, At: at, Tolerance: Tolerance,
		Tamper: func(b []byte) []byte { return []byte(strings.Replace(string(b), "1500", "1501", 1)) },
	}
	channeltest.Verify(t, Scheme{}, s,
		s.Case("rolled endpoint secret: two v1 signatures", request("t=1680644470,v1="+otherSig+",v1="+good[len("t=1680644470,v1="):], body), nil),
		s.Case("v0 and unknown schemes ignored", request(good+",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39,x=1", body), nil),
		s.Case("spaces after commas", request(strings.ReplaceAll(good, ",", ", "), body), nil),
		s.Case("missing header", request("", body), channel.ErrSignature),
		s.Case("no timestamp", request("v1="+good[len("t=1680644470,v1="):], body), channel.ErrSignature),
		s.Case("timestamp not a number", request("t=yesterday,v1=00", body), channel.ErrSignature),
		s.Case("no v1 signature", request("t=1680644470,v0=00", body), channel.ErrSignature),
		s.Case("v1 not hex", request("t=1680644470,v1=zz", body), channel.ErrSignature),
		s.Case("garbage element", request("t=1680644470;v1=00", body), channel.ErrSignature),
		s.Case("signature for another timestamp", request("t=1680644471,v1="+good[len("t=1680644470,v1="):], body), channel.ErrSignature),
	)
}

// stripe-go must accept what OCX signs and OCX must accept what stripe-go
// signs, for every fixture whatever its api_version.
func TestCrossCheckWithStripeGo(t *testing.T) {
	now := time.Now()
	for _, n := range channeltest.Fixtures(t, "*.json") {
		body := channeltest.Fixture(t, n)
		t.Run(n, func(t *testing.T) {
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
		"invoice.payment_failed.json": {TypeFailed, events.Customer{ID: "cus_NeZwdNtLEOXuvB", Email: "jennyrosen@example.com",
			Refs: []string{"invoice:in_1MtHbELkdIwHu7ixl4OzzPMv", "charge:ch_3MmlLrLkdIwHu7ix0snN0B15", "payment_intent:pi_3MtwBwLkdIwHu7ix28a3tqPa"}}, time.Unix(1680644470, 0), map[string]any{
			"provider_event": "invoice.payment_failed", "invoice_id": "in_1MtHbELkdIwHu7ixl4OzzPMv", "amount": int64(1500), "currency": "USD",
			"attempt_count": int64(2), "billing_reason": "subscription_cycle", "charge_id": "ch_3MmlLrLkdIwHu7ix0snN0B15",
			"payment_intent_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "subscription_id": "sub_1MtHbBLkdIwHu7ixvQo5j1kz",
			"next_payment_attempt": "2023-04-07T21:41:10Z", "livemode": false,
		}},
		"invoice.paid.json": {TypeSucceeded, events.Customer{ID: "cus_NeZwdNtLEOXuvB", Email: "jennyrosen@example.com", Refs: []string{"invoice:in_1MtHbELkdIwHu7ixl4OzzPMv"}}, time.Unix(1680644499, 0), map[string]any{
			"provider_event": "invoice.paid", "invoice_id": "in_1MtHbELkdIwHu7ixl4OzzPMv", "amount": int64(1500), "currency": "USD",
			"subscription_id": "sub_1MtHbBLkdIwHu7ixvQo5j1kz", "status": "paid",
		}},
		// The charge of an invoice's payment intent: the invoice's event
		// reports the failure, the charge links its keys and objects.
		"charge.failed.json": {TypeIdentified, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jenny.rosen@example.com", Phone: "+15555550100",
			Refs: []string{"charge:ch_3MmlLrLkdIwHu7ix0snN0B15", "payment_intent:pi_3MtwBwLkdIwHu7ix28a3tqPa", "invoice:in_1MtHbELkdIwHu7ixl4OzzPMv"}}, time.Unix(1679090540, 0), map[string]any{
			"provider_event": "charge.failed", "charge_id": "ch_3MmlLrLkdIwHu7ix0snN0B15", "amount": int64(1099), "currency": "USD",
			"failure_code": "card_declined", "failure_message": "Your card was declined.", "reason": "generic_decline",
			"payment_intent_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "invoice_id": "in_1MtHbELkdIwHu7ixl4OzzPMv",
		}},
		"payment_intent.payment_failed.json": {TypeFailed, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jenny.rosen@example.com",
			Refs: []string{"payment_intent:pi_3MtwBwLkdIwHu7ix28a3tqPa", "charge:ch_3MtwBwLkdIwHu7ix2yB9Kd4c"}}, time.Unix(1680800506, 0), map[string]any{
			"provider_event": "payment_intent.payment_failed", "payment_intent_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "amount": int64(2000),
			"currency": "USD", "failure_code": "card_declined", "decline_code": "insufficient_funds",
			"failure_message": "Your card has insufficient funds.", "charge_id": "ch_3MtwBwLkdIwHu7ix2yB9Kd4c", "payment_method_type": "card",
		}},
		"payment_intent.succeeded.json": {TypeSucceeded, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jenny.rosen@example.com",
			Refs: []string{"payment_intent:pi_3MtwBwLkdIwHu7ix28a3tqPa", "charge:ch_3MtwBwLkdIwHu7ix2nP1xP3w"}}, time.Unix(1680800610, 0), map[string]any{
			"provider_event": "payment_intent.succeeded", "payment_intent_id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "amount": int64(2000),
			"currency": "USD", "charge_id": "ch_3MtwBwLkdIwHu7ix2nP1xP3w",
		}},
		"charge.refunded.json": {TypeRefunded, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jenny.rosen@example.com",
			Refs: []string{"charge:ch_3MmlLrLkdIwHu7ix0snN0B15", "payment_intent:pi_3MtwBwLkdIwHu7ix28a3tqPa"}}, time.Unix(1679094123, 0), map[string]any{
			"provider_event": "charge.refunded", "charge_id": "ch_3MmlLrLkdIwHu7ix0snN0B15", "amount": int64(500), "charge_amount": int64(1099),
			"full_refund": false, "refund_id": "re_1Nispe2eZvKYlo2Cd31jOCgZ", "reason": "requested_by_customer", "currency": "USD",
		}},
		"charge.dispute.created.json": {TypeDisputed, events.Customer{Email: "jenny.rosen@example.com",
			Refs: []string{"charge:ch_1AZtxr2eZvKYlo2CJDX8whov", "payment_intent:pi_3MtJUS2eZvKYlo2C1w2bN5cq"}}, time.Unix(1680651737, 0), map[string]any{
			"provider_event": "charge.dispute.created", "dispute_id": "dp_1MtJUT2eZvKYlo2CNaw2HvEv", "amount": int64(1000), "currency": "USD",
			"reason": "fraudulent", "status": "warning_needs_response", "charge_id": "ch_1AZtxr2eZvKYlo2CJDX8whov",
			"payment_intent_id": "pi_3MtJUS2eZvKYlo2C1w2bN5cq",
		}},
		"charge.dispute.closed.json": {TypeDisputeClosed, events.Customer{Email: "jenny.rosen@example.com",
			Refs: []string{"charge:ch_1AZtxr2eZvKYlo2CJDX8whov", "payment_intent:pi_3MtJUS2eZvKYlo2C1w2bN5cq"}}, time.Unix(1682380800, 0), map[string]any{
			"provider_event": "charge.dispute.closed", "dispute_id": "dp_1MtJUT2eZvKYlo2CNaw2HvEv", "status": "lost", "reason": "fraudulent",
		}},
		"customer.created.json": {TypeIdentified, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jennyrosen@example.com"}, time.Unix(1686089970, 0), map[string]any{
			"provider_event": "customer.created", "customer_id": "cus_NffrFeUfNV2Hib",
		}},
		"customer.updated.json": {TypeIdentified, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jennyrosen@example.com", Phone: "+15555550123"}, time.Unix(1686090125, 0), nil},
		"charge.succeeded.json": {TypeIdentified, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jenny.rosen@example.com",
			Refs: []string{"charge:ch_3MmlLrLkdIwHu7ix0snN0B15", "payment_intent:pi_3MmlLrLkdIwHu7ix0pZ1Wp7U"}}, time.Unix(1679090540, 0), map[string]any{
			"provider_event": "charge.succeeded", "charge_id": "ch_3MmlLrLkdIwHu7ix0snN0B15", "amount": int64(1099),
		}},
		// Made with the Charges API: no payment intent reports it.
		"charge.succeeded.legacy.json": {TypeSucceeded, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jenny.rosen@example.com",
			Refs: []string{"charge:ch_1MmlPnLkdIwHu7ixNi9Fg3Tt"}}, time.Unix(1679090801, 0), map[string]any{"amount": int64(1099), "currency": "USD"}},
		"refund.failed.json": {TypeRefundFailed, events.Customer{Refs: []string{"charge:ch_1NirD82eZvKYlo2CIvbtLWuY", "payment_intent:pi_3NirD82eZvKYlo2C1JGlqg7L"}},
			time.Unix(1692942500, 0), map[string]any{"refund_id": "re_1Nispe2eZvKYlo2Cd31jOCgZ", "amount": int64(1000), "failure_reason": "expired_or_canceled_card"}},
		"checkout.session.completed.json": {TypeCheckoutDone, events.Customer{ID: "cus_NffrFeUfNV2Hib", Email: "jenny.rosen@example.com", Phone: "+15555550123",
			Refs: []string{"checkout_session:cs_test_a11YYufWQzNY63zpQ6QSNRQhkUpVph4WRmzW0zWJO2znZKdVujZ0N0S22u", "payment_intent:pi_3MtwBwLkdIwHu7ix28a3tqPa"}},
			time.Unix(1679600400, 0), map[string]any{"amount": int64(2198), "currency": "USD", "mode": "payment", "payment_status": "paid"}},
		"checkout.session.expired.json": {TypeCheckoutGone, events.Customer{Email: "jenny.rosen@example.com",
			Refs: []string{"checkout_session:cs_test_a1Ym8zOULGEbS0cVH4LFd6vbfmy2sZHM6D5wkLXAzbkStGHzx1YyJAbY2O"}}, time.Unix(1679686700, 0), nil},
	}
	for name, w := range cases {
		t.Run(name, func(t *testing.T) {
			body := channeltest.Fixture(t, name)
			var env struct{ ID string }
			_ = json.Unmarshal(body, &env)
			d, e := channeltest.ParseOne(t, Scheme{}, request("", body))
			if d.ID != env.ID || e.ID != env.ID {
				t.Errorf("delivery id %q, draft id %q, want %q", d.ID, e.ID, env.ID)
			}
			if e.Type != w.typ {
				t.Errorf("type %q, want %q", e.Type, w.typ)
			}
			if !reflect.DeepEqual(e.Customer, w.customer) {
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
		})
	}
}

func TestParseRejects(t *testing.T) {
	unknown := strings.Replace(string(channeltest.Fixture(t, "customer.created.json")), `"type": "customer.created"`, `"type": "issuing_card.created"`, 1)
	dispute := strings.NewReplacer(`"customer_email_address": "jenny.rosen@example.com"`, `"customer_email_address": null`,
		`"charge": "ch_1AZtxr2eZvKYlo2CJDX8whov"`, `"charge": null`, `"payment_intent": "pi_3MtJUS2eZvKYlo2C1w2bN5cq"`, `"payment_intent": null`).
		Replace(string(channeltest.Fixture(t, "charge.dispute.created.json")))
	cases := []struct {
		name, body, reason string
	}{
		{"unknown type", unknown, `unknown stripe event type "issuing_card.created"`},
		{"dispute naming neither charge nor email", dispute, "carries no customer id, email or object"},
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
			channeltest.RejectsWhole(t, Scheme{}, request("", []byte(c.body)), c.reason)
		})
	}
}

// Every event type of a typical subscription is mapped or ignored on
// purpose; the provider's documented examples of ignored types are
// answered with nothing but their type, and docs/channels.md lists them.
func TestCatalogue(t *testing.T) {
	for _, n := range []string{"customer.deleted.json", "customer.subscription.updated.json", "payment_intent.created.json", "refund.created.json"} {
		channeltest.IgnoresOne(t, Scheme{}, request("", channeltest.Fixture(t, n)), strings.TrimSuffix(n, ".json"))
	}
	// A customer with nothing to link and a charge whose payment names
	// no customer are ignored too.
	bare := strings.Replace(string(channeltest.Fixture(t, "customer.created.json")), `"email": "jennyrosen@example.com"`, `"email": null`, 1)
	channeltest.IgnoresOne(t, Scheme{}, request("", []byte(bare)), "customer.created")
	anon := strings.NewReplacer(`"customer": "cus_NffrFeUfNV2Hib"`, `"customer": null`, `"receipt_email": "jenny.rosen@example.com"`, `"receipt_email": null`).
		Replace(string(channeltest.Fixture(t, "charge.succeeded.json")))
	channeltest.IgnoresOne(t, Scheme{}, request("", []byte(anon)), "charge.succeeded")
	var mapped []string
	for k := range Types {
		mapped = append(mapped, k)
		if ignored[k] {
			t.Errorf("%s is both mapped and ignored", k)
		}
	}
	channeltest.Documented(t, append(mapped, Ignored...)...)
}

func TestParseMalformed(t *testing.T) {
	for _, body := range []string{``, `{"id":`, `not json`, `{"id":"evt_1"} trailing`} {
		channeltest.Malformed(t, Scheme{}, request("", []byte(body)))
	}
}

func FuzzVerifyAndParse(f *testing.F) {
	for _, n := range channeltest.Fixtures(f, "*.json") {
		b := channeltest.Fixture(f, n)
		f.Add(Sign(secret, fixedTS, b), string(b))
	}
	f.Add("t=1,v1=,v1=zz,,=", `{"id":"evt_1","type":"invoice.paid","created":1,"data":{"object":{"customer":{"id":7}}}}`)
	f.Add("t=-9223372036854775808,v1=00", `{"data":{"object":[]}}`)
	inv := channeltest.Invariants{Secrets: []string{secret}, Now: time.Unix(fixedTS, 0), OneItem: true, RFC3339: true}
	f.Fuzz(func(t *testing.T, sig, body string) {
		d := inv.Check(t, Scheme{}, request(sig, []byte(body)))
		for _, e := range d.Events {
			if e.ID == "" || e.Attributes["provider_event"] == nil || e.OccurredAt.IsZero() {
				t.Fatalf("incomplete draft %+v", e)
			}
		}
		for _, r := range d.Rejects {
			if len(r.Item) == 0 {
				t.Fatalf("reject without item: %+v", r)
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	body := channeltest.Fixture(b, "payment_intent.payment_failed.json")
	channeltest.Benchmark(b, Scheme{}, request(Sign(secret, fixedTS, body), body), []string{rolled, secret}, time.Unix(fixedTS, 0), 1)
}
