package shopify

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/channeltest"
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

func request(topic, hmac string, body []byte) channel.Request {
	return channeltest.Request(body,
		HeaderTopic, topic,
		HeaderShopDomain, "jsmith.myshopify.com",
		HeaderWebhookID, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
		HeaderEventID, "98880550-7158-44d4-b7cd-2c97c8a091b5",
		HeaderTriggeredAt, "2022-01-03T15:15:00.123456Z",
		"X-Shopify-Api-Version", "2025-07",
		HeaderHMAC, hmac)
}

func TestRegistered(t *testing.T) { channeltest.Registered(t, Kind, nil) }

func TestSignVector(t *testing.T) {
	if got := Sign(secret, []byte(vecBody)); got != vecHMAC {
		t.Fatalf("Sign = %s, want %s", got, vecHMAC)
	}
}

// The Signer the local stack and ocx sign use produces requests Verify accepts.
func TestSigner(t *testing.T) {
	channeltest.SignerRoundTrip(t, Scheme{}, request("orders/create", "", channeltest.Fixture(t, "orders-create.json")))
}

func TestVerify(t *testing.T) {
	body := channeltest.Fixture(t, "orders-create.json")
	good := Sign(secret, body)
	s := channeltest.Signing{
		Sign:   func(b []byte, _ time.Time) channel.Request { return request("orders/create", Sign(secret, b), b) },
		Body:   body,
		Secret: secret, Other: other, At: time.Now(),
		Tamper: func(b []byte) []byte { return []byte(strings.Replace(string(b), "388.00", "0.01", 1)) },
	}
	channeltest.Verify(t, Scheme{}, s,
		s.Case("independent vector", request("orders/create", vecHMAC, []byte(vecBody)), nil),
		s.Case("missing header", request("orders/create", "", body), channel.ErrSignature),
		s.Case("not base64", request("orders/create", "%%%", body), channel.ErrSignature),
		s.Case("hex instead of base64", request("orders/create", strings.Repeat("ab", 32), body), channel.ErrSignature),
		s.Case("truncated digest", request("orders/create", good[:20], body), channel.ErrSignature),
	)
}

func TestParseFixtures(t *testing.T) {
	john := events.Customer{ID: "115310627314723954", Email: "jon@example.com", Phone: "555-555-SHIP", Refs: []string{"order:820982911946154508"}}
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
		{"customers-create.json", "customers/create", TypeIdentified, events.Customer{ID: "706405506930370084", Email: "bob@biller.com", Phone: "+13125551212"},
			"2022-01-01T00:00:00Z", map[string]any{"customer_id": "706405506930370084"}},
		// The carrier confirmed delivery: the fulfillment names its order,
		// through which it joins the order's customer.
		{"fulfillments-update.json", "fulfillments/update", TypeDelivered, events.Customer{Email: "jon@example.com", Refs: []string{"order:820982911946154508"}},
			"2022-01-02T15:12:00Z", map[string]any{"order_id": "820982911946154508", "fulfillment_id": "123456", "shipment_status": "delivered", "tracking_company": "UPS"}},
	}
	for _, c := range cases {
		t.Run(c.topic, func(t *testing.T) {
			d, e := channeltest.ParseOne(t, Scheme{}, request(c.topic, "", channeltest.Fixture(t, c.file)))
			if d.ID != "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043" || e.ID != c.topic+":98880550-7158-44d4-b7cd-2c97c8a091b5" {
				t.Errorf("delivery id %q, draft id %q", d.ID, e.ID)
			}
			if e.Type != c.typ || !reflect.DeepEqual(e.Customer, c.customer) {
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
		})
	}
}

// Shopify's refunds/create payload names the order, never the customer: it
// joins the customer the order was placed by, through the order.
func TestRefund(t *testing.T) {
	body := channeltest.Fixture(t, "refunds-create.json")
	_, e := channeltest.ParseOne(t, Scheme{}, request("refunds/create", "", body))
	if e.Type != TypeRefunded || !reflect.DeepEqual(e.Customer, events.Customer{Refs: []string{"order:820982911946154508"}}) {
		t.Errorf("draft %+v", e)
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
	_, e = channeltest.ParseOne(t, Scheme{}, request("refunds/create", "", withCustomer))
	want := map[string]any{"provider_event": "refunds/create", "refund_id": "890088186047892319", "order_id": "820982911946154508", "total": 89.99, "currency": "USD", "shop_domain": "jsmith.myshopify.com"}
	if !reflect.DeepEqual(e.Attributes, want) {
		t.Errorf("attributes %#v, want %#v", e.Attributes, want)
	}
	if e.Type != TypeRefunded || !reflect.DeepEqual(e.Customer, events.Customer{ID: "115310627314723954", Email: "john@example.com", Refs: []string{"order:820982911946154508"}}) || e.OccurredAt != time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("draft %+v", e)
	}
}

func TestParseRejects(t *testing.T) {
	order := string(channeltest.Fixture(t, "orders-create.json"))
	cases := []struct {
		name, topic, body, reason string
	}{
		{"unknown topic", "orders/teleported", order, `unknown shopify topic "orders/teleported"`},
		{"no topic", "", order, "no X-Shopify-Topic header"},
		{"no customer", "orders/create", `{"id":1,"created_at":"2021-12-31T19:00:00-05:00","total_price":"1.00","currency":"USD"}`, "order 1 carries no customer"},
		{"no id", "orders/create", `{"email":"a@b.c"}`, "order has no id"},
		{"bad time", "orders/create", `{"id":1,"email":"a@b.c","created_at":"yesterday"}`, "read order"},
		{"id of the wrong type", "orders/cancelled", `{"id":true,"email":"a@b.c"}`, "read order"},
		{"time past year 9999 in UTC", "orders/create", `{"id":1,"email":"a@b.c","created_at":"9999-12-31T23:00:00-05:00"}`, "out of range"},
		{"array body", "orders/create", `[{"id":1}]`, "read order"},
		{"unknown topic, body not an object", "carts/abandoned", `"x"`, `unknown shopify topic "carts/abandoned"`},
		{"refund without order", "refunds/create", `{"id":5}`, "refund needs id and order_id"},
		{"created order replayed as cancelled", "orders/cancelled", order, "signed order has no cancelled_at"},
		{"created order replayed as fulfilled", "orders/fulfilled", order, "fulfillment_status is"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			channeltest.RejectsWhole(t, Scheme{}, request(c.topic, "", []byte(c.body)), c.reason)
		})
	}
}

// Every topic a shop typically subscribes to is mapped or ignored on
// purpose, and docs/channels.md lists them.
func TestCatalogue(t *testing.T) {
	order := channeltest.Fixture(t, "orders-create.json")
	for _, topic := range Ignored {
		channeltest.IgnoresOne(t, Scheme{}, request(topic, "", order), topic)
	}
	inTransit := strings.Replace(string(channeltest.Fixture(t, "fulfillments-update.json")), `"delivered"`, `"in_transit"`, 1)
	channeltest.IgnoresOne(t, Scheme{}, request("fulfillments/update", "", []byte(inTransit)), "fulfillments/update")
	bare := strings.Replace(string(channeltest.Fixture(t, "customers-create.json")), `"bob@biller.com"`, `null`, 1)
	channeltest.IgnoresOne(t, Scheme{}, request("customers/create", "", []byte(strings.Replace(bare, `"+13125551212"`, `null`, 1))), "customers/create")
	var all []string
	for topic := range Topics {
		all = append(all, topic)
	}
	channeltest.Documented(t, append(all, Ignored...)...)
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
			channeltest.Malformed(t, Scheme{}, request(topic, "", []byte(body)))
		}
	}
}

func TestDeliveryIDFallsBackToEventID(t *testing.T) {
	req := request("orders/create", "", channeltest.Fixture(t, "orders-create.json"))
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
		b := channeltest.Fixture(f, n)
		f.Add(topic, Sign(secret, b), string(b))
	}
	f.Add("orders/create", "", `{"id":-1e400,"customer":{"id":"x"},"fulfillments":[{}]}`)
	f.Add("refunds/create", "AAAA", `{"id":1,"order_id":2,"transactions":[{"kind":"refund","status":"success","amount":"1e999999"}]}`)
	inv := channeltest.Invariants{Secrets: []string{secret}, OneItem: true, RFC3339: true}
	f.Fuzz(func(t *testing.T, topic, hmac, body string) {
		d := inv.Check(t, Scheme{}, request(topic, hmac, []byte(body)))
		for _, e := range d.Events {
			if e.Attributes["provider_event"] == nil || e.Attributes["order_id"] == nil {
				t.Fatalf("incomplete draft %+v", e)
			}
		}
	})
}

func BenchmarkVerifyAndParse(b *testing.B) {
	body := channeltest.Fixture(b, "orders-create.json")
	channeltest.Benchmark(b, Scheme{}, request("orders/create", Sign(secret, body), body), []string{other, secret}, time.Time{}, 1)
}
