package shopify

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

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/ingest"
)

const (
	secret = "hush"
	other  = "a rotated client secret"
)

// Shopify's documentation publishes no secret/body/digest triple. This one was
// computed outside Go, with
//
//	printf %s "$vecBody" | openssl dgst -sha256 -hmac hush -binary | base64
//
// so a bug shared by Sign and Verify cannot hide.
const (
	vecBody = `{"id":820982911946154508,"email":"jon@example.com"}`
	vecHMAC = "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo8="
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func request(topic, hmac string, body []byte) channel.Request {
	h := http.Header{}
	h.Set(HeaderTopic, topic)
	h.Set(HeaderShopDomain, "jsmith.myshopify.com")
	h.Set(HeaderWebhookID, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
	h.Set(HeaderEventID, "98880550-7158-44d4-b7cd-2c97c8a091b5")
	h.Set(HeaderTriggeredAt, "2022-01-03T15:15:00.123456Z")
	h.Set("X-Shopify-Api-Version", "2025-07")
	if hmac != "" {
		h.Set(HeaderHMAC, hmac)
	}
	return channel.Request{Header: h, Body: body}
}

func TestRegistered(t *testing.T) {
	f, ok := channel.Lookup(Kind)
	if !ok {
		t.Fatal("shopify kind not registered")
	}
	if _, err := f(nil); err != nil {
		t.Fatalf("no options: %v", err)
	}
	if _, err := f(channel.Options{"shop": "x"}); err == nil {
		t.Fatal("an unknown option was accepted")
	}
}

func TestSignVector(t *testing.T) {
	if got := Sign(secret, []byte(vecBody)); got != vecHMAC {
		t.Fatalf("Sign = %s, want %s", got, vecHMAC)
	}
}

// The Signer the local stack and ocx sign use produces requests Verify accepts.
func TestSigner(t *testing.T) {
	sign, verify := Scheme{}.DemoSecrets("local-shopify")
	if again, _ := (Scheme{}).DemoSecrets("local-shopify"); again != sign || sign != verify {
		t.Fatalf("demo secrets are not fixed and shared: %q %q %q", sign, again, verify)
	}
	otherSign, _ := Scheme{}.DemoSecrets("local-elsewhere")
	now := time.Now()
	req := request("orders/create", "", fixture(t, "orders-create.json"))
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
	body := fixture(t, "orders-create.json")
	good := Sign(secret, body)
	now := time.Now()
	cases := []struct {
		name    string
		req     channel.Request
		secrets []string
		want    error
	}{
		{"valid", request("orders/create", good, body), []string{secret}, nil},
		{"independent vector", request("orders/create", vecHMAC, []byte(vecBody)), []string{secret}, nil},
		{"rotated: old and new secrets active", request("orders/create", good, body), []string{other, secret}, nil},
		{"tampered body", request("orders/create", good, []byte(strings.Replace(string(body), "388.00", "0.01", 1))), []string{secret}, channel.ErrSignature},
		{"wrong secret", request("orders/create", good, body), []string{other}, channel.ErrSignature},
		{"no secrets", request("orders/create", good, body), nil, channel.ErrSignature},
		{"missing header", request("orders/create", "", body), []string{secret}, channel.ErrSignature},
		{"not base64", request("orders/create", "%%%", body), []string{secret}, channel.ErrSignature},
		{"hex instead of base64", request("orders/create", strings.Repeat("ab", 32), body), []string{secret}, channel.ErrSignature},
		{"truncated digest", request("orders/create", good[:20], body), []string{secret}, channel.ErrSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Scheme{}.Verify(c.req, c.secrets, now)
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
	john := events.Customer{ID: "115310627314723954", Email: "jon@example.com", Phone: "555-555-SHIP"}
	cases := []struct {
		file, topic, typ string
		customer         events.Customer
		at               string
		attrs            map[string]any
	}{
		{"orders-create.json", "orders/create", TypeCreated, john, "2022-01-01T00:00:00Z", map[string]any{
			"order_id": "820982911946154508", "order_number": int64(1234), "name": "#9999", "total": 388.0, "currency": "USD",
			"financial_status": "paid", "shop_domain": "jsmith.myshopify.com", "test": true,
		}},
		{"orders-fulfilled.json", "orders/fulfilled", TypeFulfilled, john, "2022-01-03T15:14:51Z", map[string]any{
			"order_id": "820982911946154508", "fulfillment_status": "fulfilled", "fulfillment_id": "255858046", "tracking_company": "USPS",
		}},
		{"orders-cancelled.json", "orders/cancelled", TypeCancelled, john, "2022-01-01T13:30:00Z", map[string]any{
			"order_id": "820982911946154508", "cancel_reason": "customer", "financial_status": "voided", "total": 388.0,
		}},
	}
	schemas, err := events.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.topic, func(t *testing.T) {
			d, err := Scheme{}.Parse(request(c.topic, "", fixture(t, c.file)))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Events) != 1 || len(d.Rejects) != 0 {
				t.Fatalf("events %d, rejects %+v", len(d.Events), d.Rejects)
			}
			e := d.Events[0]
			if d.ID != "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043" || e.ID != c.topic+":98880550-7158-44d4-b7cd-2c97c8a091b5" {
				t.Errorf("delivery id %q, draft id %q", d.ID, e.ID)
			}
			if e.Type != c.typ || e.Customer != c.customer {
				t.Errorf("type %q customer %+v, want %q %+v", e.Type, e.Customer, c.typ, c.customer)
			}
			if got := e.OccurredAt.Format(time.RFC3339); got != c.at || e.OccurredAt.Location() != time.UTC {
				t.Errorf("occurred_at %s, want %s UTC", got, c.at)
			}
			c.attrs["provider_event"] = c.topic
			for k, v := range c.attrs {
				if got := e.Attributes[k]; !reflect.DeepEqual(got, v) {
					t.Errorf("attributes[%s] = %#v, want %#v", k, got, v)
				}
			}
			validate(t, schemas, d)
		})
	}
}

func validate(t *testing.T, schemas map[string]*jsonschema.Schema, d channel.Delivery) {
	t.Helper()
	for _, in := range ingest.Canonical("shop", d, "s3://archive/raw/shop/x.json", time.Unix(1690000000, 0)) {
		b, _ := json.Marshal(in)
		var doc any
		_ = json.Unmarshal(b, &doc)
		s, ok := schemas[in.Type]
		if !ok {
			t.Fatalf("no schema for %s", in.Type)
		}
		if err := s.Validate(doc); err != nil {
			t.Errorf("%s does not match its schema: %v\n%s", in.Type, err, b)
		}
	}
}

// Shopify's refunds/create payload names the order, never the customer, so
// a refund cannot be attached to anyone and is quarantined, not dropped.
func TestRefund(t *testing.T) {
	body := fixture(t, "refunds-create.json")
	d, err := Scheme{}.Parse(request("refunds/create", "", body))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 0 || len(d.Rejects) != 1 {
		t.Fatalf("events %d, rejects %d", len(d.Events), len(d.Rejects))
	}
	if r := d.Rejects[0]; !strings.Contains(r.Reason, "refund 890088186047892319 of order 820982911946154508 carries no customer") || string(r.Item) != string(body) {
		t.Fatalf("reject %q", r.Reason)
	}

	// When a payload does carry the customer, the refund maps.
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	m["customer"] = map[string]any{"id": json.Number("115310627314723954"), "email": "john@example.com"}
	withCustomer, _ := json.Marshal(m)
	d, err = Scheme{}.Parse(request("refunds/create", "", withCustomer))
	if err != nil || len(d.Events) != 1 {
		t.Fatalf("Parse: %v %+v", err, d.Rejects)
	}
	e := d.Events[0]
	want := map[string]any{"provider_event": "refunds/create", "refund_id": "890088186047892319", "order_id": "820982911946154508", "total": 89.99, "currency": "USD", "shop_domain": "jsmith.myshopify.com"}
	if !reflect.DeepEqual(e.Attributes, want) {
		t.Errorf("attributes %#v, want %#v", e.Attributes, want)
	}
	if e.Type != TypeRefunded || e.Customer != (events.Customer{ID: "115310627314723954", Email: "john@example.com"}) || e.OccurredAt != time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("draft %+v", e)
	}
	schemas, _ := events.Compile()
	validate(t, schemas, d)
}

func TestParseRejects(t *testing.T) {
	order := string(fixture(t, "orders-create.json"))
	cases := []struct {
		name, topic, body, reason string
	}{
		{"unknown topic", "orders/updated", order, `unknown shopify topic "orders/updated"`},
		{"no topic", "", order, "no X-Shopify-Topic header"},
		{"no customer", "orders/create", `{"id":1,"created_at":"2021-12-31T19:00:00-05:00","total_price":"1.00","currency":"USD"}`, "order 1 carries no customer"},
		{"no id", "orders/create", `{"email":"a@b.c"}`, "order has no id"},
		{"bad time", "orders/create", `{"id":1,"email":"a@b.c","created_at":"yesterday"}`, "read order"},
		{"id of the wrong type", "orders/cancelled", `{"id":true,"email":"a@b.c"}`, "read order"},
		{"time past year 9999 in UTC", "orders/create", `{"id":1,"email":"a@b.c","created_at":"9999-12-31T23:00:00-05:00"}`, "out of range"},
		{"array body", "orders/create", `[{"id":1}]`, "read order"},
		{"unknown topic, body not an object", "carts/update", `"x"`, `unknown shopify topic "carts/update"`},
		{"refund without order", "refunds/create", `{"id":5}`, "refund needs id and order_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Scheme{}.Parse(request(c.topic, "", []byte(c.body)))
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

func TestTotalIsADecimalOrAbsent(t *testing.T) {
	for total, want := range map[string]any{"388.00": 388.0, "0": 0.0, "NaN": nil, "Inf": nil, "1e3": nil, "12.": nil, "-": nil, "": nil} {
		body := `{"id":1,"email":"a@b.c","created_at":"2021-12-31T19:00:00-05:00","total_price":"` + total + `"}`
		d, err := Scheme{}.Parse(request("orders/create", "", []byte(body)))
		if err != nil || len(d.Events) != 1 {
			t.Fatalf("%q: %v %+v", total, err, d.Rejects)
		}
		if got := d.Events[0].Attributes["total"]; got != want {
			t.Errorf("total_price %q: total = %v, want %v", total, got, want)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	for _, topic := range []string{"orders/create", "refunds/create", "carts/update", ""} {
		for _, body := range []string{``, `{"id":`, `<xml/>`, `{"id":1} {}`} {
			if _, err := (Scheme{}).Parse(request(topic, "", []byte(body))); !errors.Is(err, channel.ErrMalformed) {
				t.Errorf("Parse(%s, %q) = %v, want ErrMalformed", topic, body, err)
			}
		}
	}
}

func TestDeliveryIDFallsBackToEventID(t *testing.T) {
	req := request("orders/create", "", fixture(t, "orders-create.json"))
	req.Header.Del(HeaderWebhookID)
	d, _ := Scheme{}.Parse(req)
	if d.ID != "98880550-7158-44d4-b7cd-2c97c8a091b5" {
		t.Fatalf("delivery id %q", d.ID)
	}
	req.Header.Del(HeaderEventID)
	if d, _ := (Scheme{}).Parse(req); d.ID != "" || d.Events[0].ID != "" {
		t.Fatalf("ids without headers: %q %q", d.ID, d.Events[0].ID)
	}
}

func FuzzVerifyAndParse(f *testing.F) {
	seeds := map[string]string{"orders-create.json": "orders/create", "orders-fulfilled.json": "orders/fulfilled", "orders-cancelled.json": "orders/cancelled", "refunds-create.json": "refunds/create"}
	for n, topic := range seeds {
		b := fixture(f, n)
		f.Add(topic, Sign(secret, b), string(b))
	}
	f.Add("orders/create", "", `{"id":-1e400,"customer":{"id":"x"},"fulfillments":[{}]}`)
	f.Add("refunds/create", "AAAA", `{"id":1,"order_id":2,"transactions":[{"kind":"refund","status":"success","amount":"1e999999"}]}`)
	f.Fuzz(func(t *testing.T, topic, hmac, body string) {
		req := request(topic, hmac, []byte(body))
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
			t.Fatalf("%d events and %d rejects from one resource", len(d.Events), len(d.Rejects))
		}
		for _, e := range d.Events {
			if _, err := e.OccurredAt.MarshalJSON(); err != nil {
				t.Fatalf("occurred_at does not marshal: %v", err)
			}
			if e.Type == "" || e.Customer.Empty() || e.Attributes["provider_event"] == nil || e.Attributes["order_id"] == nil {
				t.Fatalf("incomplete draft %+v", e)
			}
			if _, err := json.Marshal(e.Attributes); err != nil {
				t.Fatalf("attributes do not marshal: %v", err)
			}
		}
		for _, r := range d.Rejects {
			if r.Reason == "" {
				t.Fatalf("reject without reason: %+v", r)
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	body := fixture(b, "orders-create.json")
	req := request("orders/create", Sign(secret, body), body)
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
