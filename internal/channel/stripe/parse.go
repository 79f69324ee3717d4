package stripe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
)

// Canonical types this kind emits.
const (
	TypeFailed        = "payment.failed"
	TypeSucceeded     = "payment.succeeded"
	TypeRefunded      = "payment.refunded"
	TypeRefundFailed  = "payment.refund_failed"
	TypeDisputed      = "payment.disputed"
	TypeDisputeClosed = "payment.dispute_closed"
	TypeIdentified    = "customer.identified"
	TypeCheckoutDone  = "checkout.completed"
	TypeCheckoutGone  = "checkout.expired"
)

// Types maps each Stripe event type OCX maps to the canonical type it
// usually becomes. One payment reaches a typical endpoint as several events
// (invoice.payment_failed, payment_intent.payment_failed, charge.failed):
// the one that reports the payment becomes payment.*, the others only link
// the customer's keys and objects (customer.identified), so every payment
// counts once. See docs/channels.md.
var Types = map[string]string{
	"customer.created":              TypeIdentified,
	"customer.updated":              TypeIdentified,
	"invoice.payment_failed":        TypeFailed,
	"invoice.paid":                  TypeSucceeded,
	"payment_intent.payment_failed": TypeFailed,
	"payment_intent.succeeded":      TypeSucceeded,
	"charge.failed":                 TypeFailed,
	"charge.succeeded":              TypeSucceeded,
	"charge.refunded":               TypeRefunded,
	"refund.failed":                 TypeRefundFailed,
	"charge.dispute.created":        TypeDisputed,
	"charge.dispute.closed":         TypeDisputeClosed,
	"checkout.session.completed":    TypeCheckoutDone,
	"checkout.session.expired":      TypeCheckoutGone,
}

// Ignored are the Stripe event types a typical endpoint receives that carry
// nothing OCX uses: lifecycle steps another event reports (invoice.created
// before invoice.paid, refund.created beside charge.refunded), or objects
// that name no customer key OCX links (subscriptions, payment methods,
// payouts). They are answered 2xx and counted, never quarantined.
var Ignored = []string{
	"customer.deleted",
	"customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
	"customer.subscription.trial_will_end", "customer.subscription.paused", "customer.subscription.resumed",
	"customer.subscription.pending_update_applied", "customer.subscription.pending_update_expired",
	"customer.source.created", "customer.source.updated", "customer.source.deleted", "customer.source.expiring",
	"customer.discount.created", "customer.discount.updated", "customer.discount.deleted",
	"customer.tax_id.created", "customer.tax_id.updated", "customer.tax_id.deleted",
	"charge.captured", "charge.pending", "charge.updated", "charge.expired", "charge.refund.updated",
	"charge.dispute.updated", "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated",
	"payment_intent.created", "payment_intent.processing", "payment_intent.requires_action",
	"payment_intent.canceled", "payment_intent.amount_capturable_updated", "payment_intent.partially_funded",
	"invoice.created", "invoice.finalized", "invoice.finalization_failed", "invoice.updated", "invoice.sent",
	"invoice.upcoming", "invoice.payment_succeeded", "invoice.payment_action_required", "invoice.voided",
	"invoice.marked_uncollectible", "invoice.deleted", "invoice.overdue", "invoice.will_be_due",
	"invoiceitem.created", "invoiceitem.deleted",
	"checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed",
	"refund.created", "refund.updated",
	"payment_method.attached", "payment_method.detached", "payment_method.updated", "payment_method.automatically_updated",
	"setup_intent.created", "setup_intent.succeeded", "setup_intent.setup_failed", "setup_intent.canceled", "setup_intent.requires_action",
	"mandate.updated",
	"product.created", "product.updated", "product.deleted", "price.created", "price.updated", "price.deleted",
	"plan.created", "plan.updated", "plan.deleted", "coupon.created", "coupon.updated", "coupon.deleted",
	"balance.available", "payout.created", "payout.updated", "payout.paid", "payout.failed", "payout.canceled",
	"billing_portal.session.created", "billing_portal.configuration.updated",
}

var ignored = channel.Set(Ignored...)

// event is the Stripe event envelope. Only what OCX reads is declared, so
// objects of any API version decode; api_version is informational.
type event struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Type       string `json:"type"`
	Created    int64  `json:"created"`
	APIVersion string `json:"api_version"`
	Livemode   bool   `json:"livemode"`
	Account    string `json:"account"`
	Data       struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// ref is an expandable field: an id string, or the object carrying an id.
type ref string

func (r *ref) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || b[0] == 'n':
		*r = ""
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = ref(s)
		return nil
	}
	var o struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*r = ref(o.ID)
	return nil
}

type billingDetails struct {
	Email string `json:"email"`
	Phone string `json:"phone"`
}

type invoice struct {
	ID            string `json:"id"`
	Number        string `json:"number"`
	Customer      ref    `json:"customer"`
	CustomerEmail string `json:"customer_email"`
	CustomerPhone string `json:"customer_phone"`
	AmountDue     int64  `json:"amount_due"`
	AmountPaid    int64  `json:"amount_paid"`
	Currency      string `json:"currency"`
	AttemptCount  int64  `json:"attempt_count"`
	BillingReason string `json:"billing_reason"`
	Status        string `json:"status"`
	// Before API version 2025-03-31 invoices named their charge, payment
	// intent and subscription directly; later versions moved them.
	Charge        ref `json:"charge"`
	PaymentIntent ref `json:"payment_intent"`
	Subscription  ref `json:"subscription"`
	Parent        *struct {
		SubscriptionDetails *struct {
			Subscription ref `json:"subscription"`
		} `json:"subscription_details"`
	} `json:"parent"`
	NextPaymentAttempt int64 `json:"next_payment_attempt"`
}

type charge struct {
	ID             string         `json:"id"`
	Amount         int64          `json:"amount"`
	AmountRefunded int64          `json:"amount_refunded"`
	Currency       string         `json:"currency"`
	Customer       ref            `json:"customer"`
	BillingDetails billingDetails `json:"billing_details"`
	ReceiptEmail   string         `json:"receipt_email"`
	FailureCode    string         `json:"failure_code"`
	FailureMessage string         `json:"failure_message"`
	Outcome        *struct {
		Reason string `json:"reason"`
	} `json:"outcome"`
	PaymentIntent ref  `json:"payment_intent"`
	Invoice       ref  `json:"invoice"`
	Refunded      bool `json:"refunded"`
	Refunds       *struct {
		Data []struct {
			ID     string `json:"id"`
			Reason string `json:"reason"`
		} `json:"data"`
	} `json:"refunds"`
}

type paymentIntent struct {
	ID               string `json:"id"`
	Amount           int64  `json:"amount"`
	AmountReceived   int64  `json:"amount_received"`
	Currency         string `json:"currency"`
	Customer         ref    `json:"customer"`
	ReceiptEmail     string `json:"receipt_email"`
	LatestCharge     ref    `json:"latest_charge"`
	Invoice          ref    `json:"invoice"`
	LastPaymentError *struct {
		Code          string `json:"code"`
		DeclineCode   string `json:"decline_code"`
		Message       string `json:"message"`
		Type          string `json:"type"`
		Charge        ref    `json:"charge"`
		PaymentMethod *struct {
			Type           string         `json:"type"`
			BillingDetails billingDetails `json:"billing_details"`
		} `json:"payment_method"`
	} `json:"last_payment_error"`
}

type dispute struct {
	ID            string `json:"id"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Charge        ref    `json:"charge"`
	PaymentIntent ref    `json:"payment_intent"`
	Reason        string `json:"reason"`
	Status        string `json:"status"`
	Evidence      *struct {
		CustomerEmailAddress string `json:"customer_email_address"`
	} `json:"evidence"`
}

type customerObject struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Phone string `json:"phone"`
}

type checkoutSession struct {
	ID              string `json:"id"`
	Customer        ref    `json:"customer"`
	CustomerEmail   string `json:"customer_email"`
	CustomerDetails *struct {
		Email string `json:"email"`
		Phone string `json:"phone"`
	} `json:"customer_details"`
	PaymentIntent ref    `json:"payment_intent"`
	Invoice       ref    `json:"invoice"`
	Subscription  ref    `json:"subscription"`
	AmountTotal   int64  `json:"amount_total"`
	Currency      string `json:"currency"`
	Mode          string `json:"mode"`
	PaymentStatus string `json:"payment_status"`
}

type refundObject struct {
	ID            string `json:"id"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Charge        ref    `json:"charge"`
	PaymentIntent ref    `json:"payment_intent"`
	Reason        string `json:"reason"`
	Status        string `json:"status"`
	FailureReason string `json:"failure_reason"`
}

// Parse maps the one event a Stripe delivery carries; the event id is the
// delivery id.
func (Scheme) Parse(req channel.Request) (channel.Delivery, error) {
	return channel.ParseJSONItem(req, "a stripe event", func(ev *event) string { return ev.ID }, (*event).draft)
}

func (ev *event) draft() (channel.Draft, error) {
	switch {
	case ev.ID == "" || ev.Type == "":
		return channel.Draft{}, fmt.Errorf("stripe event needs id and type")
	case ev.Created <= 0 || ev.Created > maxUnix:
		return channel.Draft{}, fmt.Errorf("stripe event %s has no usable created time", ev.ID)
	case len(ev.Data.Object) == 0 || ev.Data.Object[0] != '{':
		return channel.Draft{}, fmt.Errorf("stripe event %s has no data.object", ev.ID)
	}
	if ignored[ev.Type] {
		return channel.Draft{}, channel.Ignore(ev.Type)
	}
	typ, ok := Types[ev.Type]
	if !ok {
		return channel.Draft{}, fmt.Errorf("unknown stripe event type %q", ev.Type)
	}
	a := map[string]any{"provider_event": ev.Type, "stripe_event_id": ev.ID, "livemode": ev.Livemode}
	if ev.Account != "" {
		a["account"] = ev.Account
	}
	var c events.Customer
	var err error
	switch ev.Type {
	case "customer.created", "customer.updated":
		c, err = ev.customer(a)
	case "invoice.payment_failed", "invoice.paid":
		c, err = ev.invoice(a)
	case "charge.failed", "charge.succeeded", "charge.refunded":
		c, typ, err = ev.charge(a, typ)
	case "payment_intent.payment_failed", "payment_intent.succeeded":
		c, typ, err = ev.paymentIntent(a, typ)
	case "refund.failed":
		c, err = ev.refund(a)
	case "charge.dispute.created", "charge.dispute.closed":
		c, err = ev.dispute(a)
	case "checkout.session.completed", "checkout.session.expired":
		c, err = ev.checkout(a)
	}
	if err != nil {
		return channel.Draft{}, fmt.Errorf("stripe %s %s: %w", ev.Type, ev.ID, err)
	}
	if typ == TypeIdentified && !links(c) {
		// Nothing to link: a customer without email or phone, or a charge
		// naming no customer whose payment's own event reports it.
		return channel.Draft{}, channel.Ignore(ev.Type)
	}
	if c.Empty() {
		return channel.Draft{}, fmt.Errorf("stripe %s %s carries no customer id, email or object to attach it to", ev.Type, ev.ID)
	}
	return channel.Draft{ID: ev.ID, Type: typ, OccurredAt: time.Unix(ev.Created, 0).UTC(), Customer: c, Attributes: a}, nil
}

// links reports whether c holds a person's key and at least one more key
// to link to it.
func links(c events.Customer) bool {
	person := 0
	for _, v := range []string{c.ID, c.Email, c.Phone} {
		if v != "" {
			person++
		}
	}
	return person > 0 && person+len(c.Refs) >= 2
}

// refs lists, from object, id pairs, the Stripe objects that belong to one
// customer, so a later event naming only one of them (a dispute names its
// charge) joins that customer.
func refs(kv ...string) []string {
	var out []string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			out = append(out, kv[i]+":"+kv[i+1])
		}
	}
	return out
}

func (ev *event) customer(a map[string]any) (events.Customer, error) {
	var cu customerObject
	if err := json.Unmarshal(ev.Data.Object, &cu); err != nil {
		return events.Customer{}, fmt.Errorf("read customer: %v", err)
	}
	if cu.ID == "" {
		return events.Customer{}, fmt.Errorf("customer has no id")
	}
	a["customer_id"] = cu.ID
	return events.Customer{ID: cu.ID, Email: cu.Email, Phone: cu.Phone}, nil
}

func (ev *event) checkout(a map[string]any) (events.Customer, error) {
	var cs checkoutSession
	if err := json.Unmarshal(ev.Data.Object, &cs); err != nil {
		return events.Customer{}, fmt.Errorf("read checkout session: %v", err)
	}
	if cs.ID == "" {
		return events.Customer{}, fmt.Errorf("checkout session has no id")
	}
	a["checkout_session_id"] = cs.ID
	a["amount"] = cs.AmountTotal
	channel.SetNonEmpty(a, "currency", strings.ToUpper(cs.Currency))
	channel.SetNonEmpty(a, "mode", cs.Mode)
	channel.SetNonEmpty(a, "payment_status", cs.PaymentStatus)
	channel.SetNonEmpty(a, "payment_intent_id", string(cs.PaymentIntent))
	channel.SetNonEmpty(a, "invoice_id", string(cs.Invoice))
	channel.SetNonEmpty(a, "subscription_id", string(cs.Subscription))
	c := events.Customer{ID: string(cs.Customer), Email: cs.CustomerEmail,
		Refs: refs("checkout_session", cs.ID, "payment_intent", string(cs.PaymentIntent), "invoice", string(cs.Invoice))}
	if d := cs.CustomerDetails; d != nil {
		if d.Email != "" {
			c.Email = d.Email
		}
		c.Phone = d.Phone
	}
	return c, nil
}

func (ev *event) refund(a map[string]any) (events.Customer, error) {
	var r refundObject
	if err := json.Unmarshal(ev.Data.Object, &r); err != nil {
		return events.Customer{}, fmt.Errorf("read refund: %v", err)
	}
	if r.ID == "" {
		return events.Customer{}, fmt.Errorf("refund has no id")
	}
	a["refund_id"] = r.ID
	a["amount"] = r.Amount
	a["currency"] = strings.ToUpper(r.Currency)
	channel.SetNonEmpty(a, "charge_id", string(r.Charge))
	channel.SetNonEmpty(a, "payment_intent_id", string(r.PaymentIntent))
	channel.SetNonEmpty(a, "reason", r.Reason)
	channel.SetNonEmpty(a, "status", r.Status)
	channel.SetNonEmpty(a, "failure_reason", r.FailureReason)
	// A refund names no customer: it joins the one its charge belongs to.
	return events.Customer{Refs: refs("charge", string(r.Charge), "payment_intent", string(r.PaymentIntent))}, nil
}

func (ev *event) invoice(a map[string]any) (events.Customer, error) {
	var in invoice
	if err := json.Unmarshal(ev.Data.Object, &in); err != nil {
		return events.Customer{}, fmt.Errorf("read invoice: %v", err)
	}
	if in.ID == "" {
		return events.Customer{}, fmt.Errorf("invoice has no id")
	}
	a["invoice_id"] = in.ID
	a["currency"] = strings.ToUpper(in.Currency)
	if ev.Type == "invoice.paid" {
		a["amount"] = in.AmountPaid
	} else {
		a["amount"] = in.AmountDue
		a["attempt_count"] = in.AttemptCount
		if in.NextPaymentAttempt > 0 {
			a["next_payment_attempt"] = time.Unix(in.NextPaymentAttempt, 0).UTC().Format(time.RFC3339)
		}
	}
	channel.SetNonEmpty(a, "invoice_number", in.Number)
	channel.SetNonEmpty(a, "billing_reason", in.BillingReason)
	channel.SetNonEmpty(a, "status", in.Status)
	channel.SetNonEmpty(a, "charge_id", string(in.Charge))
	channel.SetNonEmpty(a, "payment_intent_id", string(in.PaymentIntent))
	sub := in.Subscription
	if sub == "" && in.Parent != nil && in.Parent.SubscriptionDetails != nil {
		sub = in.Parent.SubscriptionDetails.Subscription
	}
	channel.SetNonEmpty(a, "subscription_id", string(sub))
	return events.Customer{ID: string(in.Customer), Email: in.CustomerEmail, Phone: in.CustomerPhone,
		Refs: refs("invoice", in.ID, "charge", string(in.Charge), "payment_intent", string(in.PaymentIntent))}, nil
}

// charge maps a charge event. A charge made through a payment intent (or
// for an invoice) is reported by that object's own event, so its
// charge.succeeded and charge.failed only link the customer's keys and
// objects; a charge made without one is the payment itself.
func (ev *event) charge(a map[string]any, typ string) (events.Customer, string, error) {
	var ch charge
	if err := json.Unmarshal(ev.Data.Object, &ch); err != nil {
		return events.Customer{}, typ, fmt.Errorf("read charge: %v", err)
	}
	if ch.ID == "" {
		return events.Customer{}, typ, fmt.Errorf("charge has no id")
	}
	a["charge_id"] = ch.ID
	a["currency"] = strings.ToUpper(ch.Currency)
	if ev.Type == "charge.refunded" {
		a["amount"] = ch.AmountRefunded
		a["charge_amount"] = ch.Amount
		a["full_refund"] = ch.Refunded
		if ch.Refunds != nil && len(ch.Refunds.Data) > 0 {
			channel.SetNonEmpty(a, "refund_id", ch.Refunds.Data[0].ID)
			channel.SetNonEmpty(a, "reason", ch.Refunds.Data[0].Reason)
		}
	} else {
		a["amount"] = ch.Amount
		channel.SetNonEmpty(a, "failure_code", ch.FailureCode)
		channel.SetNonEmpty(a, "failure_message", ch.FailureMessage)
		if ch.Outcome != nil {
			channel.SetNonEmpty(a, "reason", ch.Outcome.Reason)
		}
		if ch.PaymentIntent != "" || ch.Invoice != "" {
			typ = TypeIdentified
		}
	}
	channel.SetNonEmpty(a, "payment_intent_id", string(ch.PaymentIntent))
	channel.SetNonEmpty(a, "invoice_id", string(ch.Invoice))
	email := ch.BillingDetails.Email
	if email == "" {
		email = ch.ReceiptEmail
	}
	return events.Customer{ID: string(ch.Customer), Email: email, Phone: ch.BillingDetails.Phone,
		Refs: refs("charge", ch.ID, "payment_intent", string(ch.PaymentIntent), "invoice", string(ch.Invoice))}, typ, nil
}

// paymentIntent maps a payment intent event. One that pays an invoice
// (API versions before 2025-03-31 name it) is reported by the invoice's
// event, so it only links.
func (ev *event) paymentIntent(a map[string]any, typ string) (events.Customer, string, error) {
	var pi paymentIntent
	if err := json.Unmarshal(ev.Data.Object, &pi); err != nil {
		return events.Customer{}, typ, fmt.Errorf("read payment intent: %v", err)
	}
	if pi.ID == "" {
		return events.Customer{}, typ, fmt.Errorf("payment intent has no id")
	}
	if pi.Invoice != "" {
		typ = TypeIdentified
	}
	a["payment_intent_id"] = pi.ID
	a["currency"] = strings.ToUpper(pi.Currency)
	c := events.Customer{ID: string(pi.Customer), Email: pi.ReceiptEmail}
	chargeID := pi.LatestCharge
	if ev.Type == "payment_intent.succeeded" {
		a["amount"] = pi.AmountReceived
	} else {
		a["amount"] = pi.Amount
		if e := pi.LastPaymentError; e != nil {
			channel.SetNonEmpty(a, "failure_code", e.Code)
			channel.SetNonEmpty(a, "decline_code", e.DeclineCode)
			channel.SetNonEmpty(a, "failure_message", e.Message)
			channel.SetNonEmpty(a, "error_type", e.Type)
			if chargeID == "" {
				chargeID = e.Charge
			}
			if pm := e.PaymentMethod; pm != nil {
				channel.SetNonEmpty(a, "payment_method_type", pm.Type)
				if c.Email == "" {
					c.Email = pm.BillingDetails.Email
				}
				c.Phone = pm.BillingDetails.Phone
			}
		}
	}
	channel.SetNonEmpty(a, "charge_id", string(chargeID))
	channel.SetNonEmpty(a, "invoice_id", string(pi.Invoice))
	c.Refs = refs("payment_intent", pi.ID, "charge", string(chargeID), "invoice", string(pi.Invoice))
	return c, typ, nil
}

func (ev *event) dispute(a map[string]any) (events.Customer, error) {
	var dp dispute
	if err := json.Unmarshal(ev.Data.Object, &dp); err != nil {
		return events.Customer{}, fmt.Errorf("read dispute: %v", err)
	}
	if dp.ID == "" {
		return events.Customer{}, fmt.Errorf("dispute has no id")
	}
	a["dispute_id"] = dp.ID
	a["amount"] = dp.Amount
	a["currency"] = strings.ToUpper(dp.Currency)
	channel.SetNonEmpty(a, "reason", dp.Reason)
	channel.SetNonEmpty(a, "status", dp.Status)
	channel.SetNonEmpty(a, "charge_id", string(dp.Charge))
	channel.SetNonEmpty(a, "payment_intent_id", string(dp.PaymentIntent))
	// A dispute names no Stripe customer: it joins the one its charge
	// belongs to; the evidence may carry an email too.
	c := events.Customer{Refs: refs("charge", string(dp.Charge), "payment_intent", string(dp.PaymentIntent))}
	if dp.Evidence != nil {
		c.Email = dp.Evidence.CustomerEmailAddress
	}
	return c, nil
}

// maxUnix is 9999-12-31T23:59:59Z, the last time RFC 3339 can write.
const maxUnix = 253402300799
