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
)

// Topics maps each Shopify webhook topic OCX understands to its canonical type.
var Topics = map[string]string{
	"orders/create":    TypeCreated,
	"orders/fulfilled": TypeFulfilled,
	"orders/cancelled": TypeCancelled,
	"refunds/create":   TypeRefunded,
}

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
	if topic == "refunds/create" {
		c, at, err = refundDraft(req.Body, a)
	} else {
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
	c := events.Customer{Email: first(o.Email, o.ContactEmail), Phone: o.Phone}
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
	if c.Empty() {
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
	c := events.Customer{Email: r.Email}
	if r.Customer != nil {
		c.ID = string(r.Customer.ID)
		c.Email = first(c.Email, r.Customer.Email)
		c.Phone = r.Customer.Phone
	}
	if c.Empty() {
		return c, time.Time{}, fmt.Errorf("refund %s of order %s carries no customer id, email or phone (Shopify's refund payload names only the order)", r.ID, r.OrderID)
	}
	return c, first(r.ProcessedAt, r.CreatedAt).UTC(), nil
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
