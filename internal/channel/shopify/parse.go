package shopify

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
)

// Canonical types this kind emits.
const (
	TypeCreated   = "order.created"
	TypeFulfilled = "order.fulfilled"
	TypeCancelled = "order.cancelled"
	TypeRefunded  = "order.refunded"
	TypeDelivered = "order.delivered"
	// TypeIdentified links a Shopify customer's id, email and phone.
	TypeIdentified = "customer.identified"
)

// Topics maps each Shopify webhook topic OCX maps to its canonical type.
// Orders carry their customer and tie the order to them (refs), so a
// refund or fulfillment, which names only the order, joins that customer.
var Topics = map[string]string{
	"customers/create":    TypeIdentified,
	"customers/update":    TypeIdentified,
	"orders/create":       TypeCreated,
	"orders/fulfilled":    TypeFulfilled,
	"orders/cancelled":    TypeCancelled,
	"refunds/create":      TypeRefunded,
	"fulfillments/update": TypeDelivered,
}

// Ignored are the topics a shop typically subscribes to that carry nothing
// OCX uses: order edits another topic reports, checkouts and carts (no
// customer yet), catalogue and shop changes, and the compliance topics,
// which an operator answers with erasure (`ocx erase`). Answered 2xx and
// counted; fulfillments/update maps only once the carrier reports delivery.
var Ignored = []string{
	"orders/updated", "orders/paid", "orders/edited", "orders/partially_fulfilled", "orders/delete",
	"fulfillments/create", "customers/delete", "customers/enable", "customers/disable",
	"customers/data_request", "customers/redact", "shop/redact", "checkouts/create", "checkouts/update",
	"checkouts/delete", "carts/create", "carts/update", "products/create", "products/update", "products/delete",
	"inventory_levels/update", "app/uninstalled", "shop/update",
}

var ignored = channel.Set(Ignored...)

type customer struct {
	ID    channel.ProviderID `json:"id"`
	Email string             `json:"email"`
	Phone string             `json:"phone"`
}

type address struct {
	Phone string `json:"phone"`
}

// order is the part of Shopify's order payload OCX reads.
type order struct {
	ID                channel.ProviderID `json:"id"`
	Name              string             `json:"name"`
	OrderNumber       int64              `json:"order_number"`
	Email             string             `json:"email"`
	ContactEmail      string             `json:"contact_email"`
	Phone             string             `json:"phone"`
	TotalPrice        string             `json:"total_price"`
	Currency          string             `json:"currency"`
	FinancialStatus   string             `json:"financial_status"`
	FulfillmentStatus string             `json:"fulfillment_status"`
	CancelReason      string             `json:"cancel_reason"`
	Test              bool               `json:"test"`
	CreatedAt         time.Time          `json:"created_at"`
	UpdatedAt         time.Time          `json:"updated_at"`
	CancelledAt       time.Time          `json:"cancelled_at"`
	ClosedAt          time.Time          `json:"closed_at"`
	Customer          *customer          `json:"customer"`
	ShippingAddress   *address           `json:"shipping_address"`
	BillingAddress    *address           `json:"billing_address"`
	Fulfillments      []struct {
		ID              channel.ProviderID `json:"id"`
		Status          string             `json:"status"`
		CreatedAt       time.Time          `json:"created_at"`
		TrackingCompany string             `json:"tracking_company"`
	} `json:"fulfillments"`
}

// refund is the part of Shopify's refund payload OCX reads. Shopify's
// refunds/create payload names the order but not the customer; customer and
// email are read in case a shop's payload carries them.
type refund struct {
	ID           channel.ProviderID `json:"id"`
	OrderID      channel.ProviderID `json:"order_id"`
	CreatedAt    time.Time          `json:"created_at"`
	ProcessedAt  time.Time          `json:"processed_at"`
	Note         string             `json:"note"`
	Restock      bool               `json:"restock"`
	Customer     *customer          `json:"customer"`
	Email        string             `json:"email"`
	Transactions []struct {
		Kind     string `json:"kind"`
		Status   string `json:"status"`
		Amount   string `json:"amount"`
		Currency string `json:"currency"`
	} `json:"transactions"`
	RefundLineItems []struct {
		SubtotalSet struct {
			ShopMoney struct {
				CurrencyCode string `json:"currency_code"`
			} `json:"shop_money"`
		} `json:"subtotal_set"`
	} `json:"refund_line_items"`
}

// Parse maps the one resource a Shopify delivery carries, by topic.
func (Scheme) Parse(req channel.Request) (channel.Delivery, error) {
	deliveryID := req.Header.Get(HeaderWebhookID)
	eventID := req.Header.Get(HeaderEventID)
	if deliveryID == "" {
		deliveryID = eventID
	}
	if eventID == "" {
		eventID = deliveryID
	}
	topic := req.Header.Get(HeaderTopic)
	draft, err := parse(topic, req)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return channel.Delivery{}, fmt.Errorf("%w: shopify body is not JSON: %v", channel.ErrMalformed, syntax)
	}
	if err == nil && eventID != "" {
		// The event id is the same on every redelivery of this topic's
		// webhook, so a redelivery names the same canonical event.
		draft.ID = topic + ":" + eventID
	}
	return channel.SingleItem(deliveryID, req.Body, draft, err), nil
}

func parse(topic string, req channel.Request) (channel.Draft, error) {
	if ignored[topic] {
		if !json.Valid(req.Body) {
			return channel.Draft{}, json.Unmarshal(req.Body, new(any))
		}
		return channel.Draft{}, channel.Ignore(topic)
	}
	typ, ok := Topics[topic]
	if !ok {
		if !json.Valid(req.Body) {
			// Unreadable whatever the topic: report it as such.
			return channel.Draft{}, json.Unmarshal(req.Body, new(any))
		}
		if topic == "" {
			return channel.Draft{}, fmt.Errorf("no %s header: cannot tell what the payload is", HeaderTopic)
		}
		return channel.Draft{}, fmt.Errorf("unknown shopify topic %q", topic)
	}
	a := map[string]any{"provider_event": topic}
	if shop := req.Header.Get(HeaderShopDomain); shop != "" {
		a["shop_domain"] = shop
	}
	var (
		c   events.Customer
		at  time.Time
		err error
	)
	switch topic {
	case "refunds/create":
		c, at, err = refundDraft(req.Body, a)
	case "customers/create", "customers/update":
		c, at, err = customerDraft(topic, req.Body, a)
	case "fulfillments/update":
		c, at, err = fulfillmentDraft(req.Body, a)
	default:
		c, at, err = orderDraft(topic, req.Body, a)
	}
	if err != nil {
		return channel.Draft{}, fmt.Errorf("shopify %s: %w", topic, err)
	}
	if at.IsZero() {
		at = triggeredAt(req)
	}
	if at.Year() > 9999 {
		return channel.Draft{}, fmt.Errorf("shopify %s: time %s is out of range", topic, at.Format(time.DateTime))
	}
	return channel.Draft{Type: typ, OccurredAt: at, Customer: c, Attributes: a}, nil
}

func orderDraft(topic string, body []byte, a map[string]any) (events.Customer, time.Time, error) {
	var o order
	if err := json.Unmarshal(body, &o); err != nil {
		return events.Customer{}, time.Time{}, fmt.Errorf("read order: %w", err)
	}
	if o.ID == "" {
		return events.Customer{}, time.Time{}, errors.New("order has no id")
	}
	a["order_id"] = string(o.ID)
	if o.OrderNumber != 0 {
		a["order_number"] = o.OrderNumber
	}
	channel.SetNonEmpty(a, "name", o.Name)
	if total, ok := decimal(o.TotalPrice); ok {
		f, _ := total.Float64()
		a["total"] = f
	}
	channel.SetNonEmpty(a, "currency", strings.ToUpper(o.Currency))
	channel.SetNonEmpty(a, "financial_status", o.FinancialStatus)
	channel.SetNonEmpty(a, "fulfillment_status", o.FulfillmentStatus)
	channel.SetNonEmpty(a, "cancel_reason", o.CancelReason)
	if o.Test {
		a["test"] = true
	}
	// The topic travels in an unsigned header: the signed order must
	// agree with it, so a captured order cannot be replayed as a
	// cancellation or a fulfilment it never had.
	switch {
	case topic == "orders/cancelled" && o.CancelledAt.IsZero():
		return events.Customer{}, time.Time{}, errors.New("topic says cancelled, but the signed order has no cancelled_at")
	case topic == "orders/fulfilled" && o.FulfillmentStatus != "fulfilled":
		return events.Customer{}, time.Time{}, fmt.Errorf("topic says fulfilled, but the signed order's fulfillment_status is %q", o.FulfillmentStatus)
	}
	var at time.Time
	switch topic {
	case "orders/create":
		at = o.CreatedAt
	case "orders/cancelled":
		at = first(o.CancelledAt, o.UpdatedAt)
	case "orders/fulfilled":
		if n := len(o.Fulfillments); n > 0 {
			f := o.Fulfillments[n-1]
			channel.SetNonEmpty(a, "fulfillment_id", string(f.ID))
			channel.SetNonEmpty(a, "tracking_company", f.TrackingCompany)
			at = f.CreatedAt
		}
		at = first(at, o.ClosedAt, o.UpdatedAt)
	}
	c := events.Customer{Email: first(o.Email, o.ContactEmail), Phone: o.Phone, Refs: []string{"order:" + string(o.ID)}}
	if o.Customer != nil {
		c.ID = string(o.Customer.ID)
		c.Email = first(c.Email, o.Customer.Email)
		c.Phone = first(c.Phone, o.Customer.Phone)
	}
	for _, ad := range []*address{o.ShippingAddress, o.BillingAddress} {
		if ad != nil {
			c.Phone = first(c.Phone, ad.Phone)
		}
	}
	if c.ID == "" && c.Email == "" && c.Phone == "" {
		return c, at, fmt.Errorf("order %s carries no customer id, email or phone", o.ID)
	}
	return c, at.UTC(), nil
}

func refundDraft(body []byte, a map[string]any) (events.Customer, time.Time, error) {
	var r refund
	if err := json.Unmarshal(body, &r); err != nil {
		return events.Customer{}, time.Time{}, fmt.Errorf("read refund: %w", err)
	}
	if r.ID == "" || r.OrderID == "" {
		return events.Customer{}, time.Time{}, errors.New("refund needs id and order_id")
	}
	a["refund_id"] = string(r.ID)
	a["order_id"] = string(r.OrderID)
	if r.Restock {
		a["restock"] = true
	}
	// The amount refunded is what the successful refund transactions moved.
	total, currency := new(big.Rat), ""
	for _, t := range r.Transactions {
		if t.Kind != "refund" || t.Status != "success" {
			continue
		}
		if v, ok := decimal(t.Amount); ok {
			total.Add(total, v)
		}
		currency = first(currency, t.Currency)
	}
	for _, li := range r.RefundLineItems {
		currency = first(currency, li.SubtotalSet.ShopMoney.CurrencyCode)
	}
	f, _ := total.Float64()
	a["total"] = f
	channel.SetNonEmpty(a, "currency", strings.ToUpper(currency))
	// Shopify's refund names only its order: it joins the order's customer.
	c := events.Customer{Email: r.Email, Refs: []string{"order:" + string(r.OrderID)}}
	if r.Customer != nil {
		c.ID = string(r.Customer.ID)
		c.Email = first(c.Email, r.Customer.Email)
		c.Phone = r.Customer.Phone
	}
	return c, first(r.ProcessedAt, r.CreatedAt).UTC(), nil
}

func customerDraft(topic string, body []byte, a map[string]any) (events.Customer, time.Time, error) {
	var cu struct {
		customer
		UpdatedAt time.Time `json:"updated_at"`
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(body, &cu); err != nil {
		return events.Customer{}, time.Time{}, fmt.Errorf("read customer: %w", err)
	}
	if cu.ID == "" {
		return events.Customer{}, time.Time{}, errors.New("customer has no id")
	}
	c := events.Customer{ID: string(cu.ID), Email: cu.Email, Phone: cu.Phone}
	if c.Email == "" && c.Phone == "" {
		// Nothing to link yet: a customer created without contact details.
		return c, time.Time{}, channel.Ignore(topic)
	}
	a["customer_id"] = string(cu.ID)
	return c, first(cu.UpdatedAt, cu.CreatedAt).UTC(), nil
}

// fulfillmentDraft maps a fulfillment update: a carrier's delivery
// confirmation (shipment_status delivered) is the order reaching the
// customer; every other shipment status is ignored on purpose.
func fulfillmentDraft(body []byte, a map[string]any) (events.Customer, time.Time, error) {
	var f struct {
		ID              channel.ProviderID `json:"id"`
		OrderID         channel.ProviderID `json:"order_id"`
		ShipmentStatus  string             `json:"shipment_status"`
		TrackingCompany string             `json:"tracking_company"`
		Email           string             `json:"email"`
		UpdatedAt       time.Time          `json:"updated_at"`
	}
	if err := json.Unmarshal(body, &f); err != nil {
		return events.Customer{}, time.Time{}, fmt.Errorf("read fulfillment: %w", err)
	}
	if f.ShipmentStatus != "delivered" {
		return events.Customer{}, time.Time{}, channel.Ignore("fulfillments/update")
	}
	if f.ID == "" || f.OrderID == "" {
		return events.Customer{}, time.Time{}, errors.New("fulfillment needs id and order_id")
	}
	a["order_id"] = string(f.OrderID)
	a["fulfillment_id"] = string(f.ID)
	a["shipment_status"] = f.ShipmentStatus
	channel.SetNonEmpty(a, "tracking_company", f.TrackingCompany)
	return events.Customer{Email: f.Email, Refs: []string{"order:" + string(f.OrderID)}}, f.UpdatedAt.UTC(), nil
}

// decimal reads a money amount as Shopify writes it ("388.00"). Anything
// else (exponents, NaN, absurd lengths) is ignored rather than trusted.
func decimal(s string) (*big.Rat, bool) {
	if len(s) == 0 || len(s) > 32 {
		return nil, false
	}
	dot := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
		case r == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		default:
			return nil, false
		}
	}
	return new(big.Rat).SetString(s)
}

// triggeredAt is Shopify's X-Shopify-Triggered-At, the fallback event time.
func triggeredAt(req channel.Request) time.Time {
	t, err := time.Parse(time.RFC3339Nano, req.Header.Get(HeaderTriggeredAt))
	if err != nil || t.UTC().Year() > 9999 {
		return time.Time{}
	}
	return t.UTC()
}

func first[T comparable](vs ...T) T {
	var zero T
	for _, v := range vs {
		if v != zero {
			return v
		}
	}
	return zero
}
