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
	TypeDisputed      = "payment.disputed"
	TypeDisputeClosed = "payment.dispute_closed"
)

// Types maps each Stripe event type OCX understands to its canonical type.
var Types = map[string]string{
	"invoice.payment_failed":        TypeFailed,
	"charge.failed":                 TypeFailed,
	"payment_intent.payment_failed": TypeFailed,
	"payment_intent.succeeded":      TypeSucceeded,
	"invoice.paid":                  TypeSucceeded,
	"charge.refunded":               TypeRefunded,
	"charge.dispute.created":        TypeDisputed,
	"charge.dispute.closed":         TypeDisputeClosed,
}

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
	case "invoice.payment_failed", "invoice.paid":
		c, err = ev.invoice(a)
	case "charge.failed", "charge.refunded":
		c, err = ev.charge(a)
	case "payment_intent.payment_failed", "payment_intent.succeeded":
		c, err = ev.paymentIntent(a)
	case "charge.dispute.created", "charge.dispute.closed":
		c, err = ev.dispute(a)
	}
	if err != nil {
		return channel.Draft{}, fmt.Errorf("stripe %s %s: %w", ev.Type, ev.ID, err)
	}
	if c.Empty() {
		return channel.Draft{}, fmt.Errorf("stripe %s %s carries no customer id or email to attach it to", ev.Type, ev.ID)
	}
	return channel.Draft{ID: ev.ID, Type: typ, OccurredAt: time.Unix(ev.Created, 0).UTC(), Customer: c, Attributes: a}, nil
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
	return events.Customer{ID: string(in.Customer), Email: in.CustomerEmail, Phone: in.CustomerPhone}, nil
}

func (ev *event) charge(a map[string]any) (events.Customer, error) {
	var ch charge
	if err := json.Unmarshal(ev.Data.Object, &ch); err != nil {
		return events.Customer{}, fmt.Errorf("read charge: %v", err)
	}
	if ch.ID == "" {
		return events.Customer{}, fmt.Errorf("charge has no id")
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
	}
	channel.SetNonEmpty(a, "payment_intent_id", string(ch.PaymentIntent))
	channel.SetNonEmpty(a, "invoice_id", string(ch.Invoice))
	email := ch.BillingDetails.Email
	if email == "" {
		email = ch.ReceiptEmail
	}
	return events.Customer{ID: string(ch.Customer), Email: email, Phone: ch.BillingDetails.Phone}, nil
}

func (ev *event) paymentIntent(a map[string]any) (events.Customer, error) {
	var pi paymentIntent
	if err := json.Unmarshal(ev.Data.Object, &pi); err != nil {
		return events.Customer{}, fmt.Errorf("read payment intent: %v", err)
	}
	if pi.ID == "" {
		return events.Customer{}, fmt.Errorf("payment intent has no id")
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
	return c, nil
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
	// A dispute names no Stripe customer; the evidence may carry an email.
	var c events.Customer
	if dp.Evidence != nil {
		c.Email = dp.Evidence.CustomerEmailAddress
	}
	return c, nil
}

// maxUnix is 9999-12-31T23:59:59Z, the last time RFC 3339 can write.
const maxUnix = 253402300799
