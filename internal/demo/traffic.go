package demo

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Labelled is three days of provider traffic as a shop's real accounts
// send it: every event a typical webhook subscription delivers, not only
// those OCX maps, with each person's identity spread over the providers
// that know them. It says, per person, which failures must be raised and
// which keys must resolve to that person alone.
type Labelled struct {
	// Phases are sent in order, each once the stack has settled the one
	// before: first traffic that names people by one key only, then the
	// providers' customer records, then everything else.
	Phases [][]Request
	People []Person
	// BadRows is how many items are malformed or of a genuinely unknown
	// type on purpose; nothing else may become a bad row.
	BadRows int
	// IdentityYAML is the guardrail configuration the traffic assumes.
	IdentityYAML string
	// SharedPhone is the household's landline, which must link neither
	// person of the household to the other.
	SharedPhone string
	// Refusals is how many refused links the household causes.
	Refusals int
}

// Person is one labelled person of the traffic.
type Person struct {
	Name string
	// Keys must all resolve to one customer, and no other person's key to
	// it (identity.ParseKey syntax).
	Keys []string
	// Expect counts the failures of each rule that must be raised for
	// this person; a rule not listed must raise none.
	Expect map[string]int
	// Kind is "failing", "near-miss" or "clean".
	Kind string
}

// SupportLine is the business's own number: an event naming only it is
// attributed to no one.
const SupportLine = "+15558675310"

// lp is a labelled person as each provider knows them.
type lp struct {
	name, email, phone string
	stripe             string
	shopify            int64
	zendesk            int64
	intercom           string
	app                string
}

// labeller builds the traffic phase by phase.
type labeller struct {
	now    time.Time
	seq    int
	phases [][]Request
	phase  int
}

func (l *labeller) id(prefix string) string {
	l.seq++
	return fmt.Sprintf("%s%06d", prefix, l.seq)
}

func (l *labeller) add(r Request) {
	if r.ContentType == "" {
		r.ContentType = "application/json"
	}
	l.phases[l.phase] = append(l.phases[l.phase], r)
}

func (l *labeller) ago(d time.Duration) time.Time { return l.now.Add(-d).Truncate(time.Second) }

// LabelledTraffic returns the labelled traffic ending at now.
func LabelledTraffic(now time.Time) Labelled {
	now = now.UTC().Truncate(time.Second)
	l := &labeller{now: now, phases: make([][]Request, 3)}
	mk := func(n int, name string) lp {
		return lp{name: name, email: name + "@example.com", phone: fmt.Sprintf("+1555%07d", 2000000+n),
			stripe: fmt.Sprintf("cus_L%08d", n), shopify: 6000000000 + int64(n), zendesk: 38000000 + int64(n),
			intercom: fmt.Sprintf("65a0%020x", n), app: fmt.Sprintf("u-%04d", n)}
	}
	var people []Person
	person := func(p lp, kind string, expect map[string]int, keys ...string) {
		people = append(people, Person{Name: p.name, Kind: kind, Expect: expect, Keys: append([]string{"email:" + p.email}, keys...)})
	}
	stripeKey := func(p lp) string { return "stripe:" + p.stripe }
	phoneKey := func(p lp) string { return "phone:" + p.phone }

	ann, bob, cy, dee, eve := mk(1, "ann"), mk(2, "bob"), mk(3, "cy"), mk(4, "dee"), mk(5, "eve")
	fay, gus, hal, ida, jon := mk(6, "fay"), mk(7, "gus"), mk(8, "hal"), mk(9, "ida"), mk(10, "jon")
	kim, lou, max, nia, oli := mk(11, "kim"), mk(12, "lou"), mk(13, "max"), mk(14, "nia"), mk(15, "oli")
	pia, raj, sue := mk(16, "pia"), mk(17, "raj"), mk(18, "sue")
	shared := "+15553000000"
	raj.phone, sue.phone = shared, shared

	// Phase 0: people known by one key only, before any provider record
	// ties their keys together (the split the customer records repair).
	l.phase = 0
	for _, p := range []lp{max, jon} {
		l.sendgridBatch(l.ago(3*day), []sgItem{{p, "processed", l.ago(3 * day)}, {p, "delivered", l.ago(3*day - time.Minute)}})
	}
	l.inboundSMS(max, "Is my parcel on its way?")
	// raj's customer record comes first, so the household's phone is his
	// whatever order the senders' workers take within a phase; sue's, a
	// phase later, is the link the guardrail refuses.
	l.stripeCustomer("customer.created", raj, l.ago(3*day))

	// Phase 1: the providers' customer records.
	l.phase = 1
	for _, p := range []lp{ann, bob, cy, dee, eve, fay, gus, hal, ida, jon, kim, lou, max, oli, sue} {
		l.stripeCustomer("customer.created", p, l.ago(3*day))
	}
	l.stripeCustomer("customer.updated", max, l.ago(3*day-time.Hour))
	// A customer Stripe knows by id alone: nothing to link, ignored.
	l.stripeCustomer("customer.created", lp{stripe: "cus_LAnon0001"}, l.ago(3*day))
	for _, p := range []lp{nia, hal} {
		l.shopifyCustomer(p, l.ago(3*day))
	}
	for _, p := range []lp{ann, bob, ida, lou} {
		l.zendeskUser(p, "end-user", l.ago(3*day))
	}
	l.zendeskUser(lp{name: "agent", email: "agent@ocx-demo.example", zendesk: 38999999}, "agent", l.ago(3*day))
	for _, p := range []lp{ann, eve, ida} {
		l.intercomContact("contact.user.created", p, l.ago(3*day))
	}
	// An anonymous lead: nothing to link yet, ignored.
	l.intercomContact("contact.lead.created", lp{intercom: "65a0ffffffffffffffffffff"}, l.ago(3*day))
	l.intercomContact("contact.user.created", pia, l.ago(3*day))

	// Phase 2: three days of everything else.
	l.phase = 2
	l.intercomPing()

	// ann contacts support three times in a week, each time through a
	// channel that knows her by another key: a repeat contact.
	l.ticket(ann, "web", l.ago(2*day), true)
	l.chat(ann, l.ago(day), 0)
	l.inboundSMS(ann, "Still waiting on my refund")
	person(ann, "failing", map[string]int{"contact.repeat": 1}, stripeKey(ann), phoneKey(ann),
		fmt.Sprintf("zendesk:%d", ann.zendesk), "intercom:"+ann.intercom)

	// bob asks through the web widget, then calls within the hour.
	l.ticket(bob, "web_widget", l.ago(50*time.Minute), true)
	l.call(bob, "inbound", "completed", l.ago(20*time.Minute))
	person(bob, "failing", map[string]int{"contact.channel_hop": 1}, stripeKey(bob), phoneKey(bob), fmt.Sprintf("zendesk:%d", bob.zendesk))

	// cy's invoice payment fails twice within a day, as Stripe reports
	// it: invoice, payment intent and charge events for each attempt.
	inv := l.id("in_L")
	l.invoiceAttempt(cy, inv, 1, false, l.ago(2*day))
	l.invoiceAttempt(cy, inv, 2, false, l.ago(2*day-8*time.Hour))
	l.invoiceAttempt(cy, inv, 3, true, l.ago(day))
	person(cy, "failing", map[string]int{"payment.failed_twice": 1}, stripeKey(cy), phoneKey(cy))

	// dee answers NPS with a 2 on Delighted.
	l.delighted(dee, 2, l.ago(day))
	person(dee, "failing", map[string]int{"nps.detractor": 1}, stripeKey(dee), phoneKey(dee))

	// eve rates her chat 1 of 5.
	l.chat(eve, l.ago(30*time.Hour), 1)
	person(eve, "failing", map[string]int{"csat.low": 1}, stripeKey(eve), phoneKey(eve), "intercom:"+eve.intercom)

	// fay's delivery text never arrives.
	l.outboundSMS(fay, []string{"queued", "sent", "undelivered"})
	person(fay, "failing", map[string]int{"sms.undelivered": 1}, stripeKey(fay), phoneKey(fay))

	// gus's receipt bounces.
	l.sendgridBatch(l.ago(2*day), []sgItem{{gus, "processed", l.ago(2 * day)}, {gus, "bounce", l.ago(2*day - time.Minute)}})
	person(gus, "failing", map[string]int{"email.bounced": 1}, stripeKey(gus), phoneKey(gus))

	// hal pays by card, then disputes the charge; his Shopify order is
	// refunded. The dispute names only the charge, the refund only the
	// order: both join him through them.
	pi, ch := l.id("pi_L"), l.id("ch_L")
	l.payment(hal, pi, ch, "", l.ago(2*day))
	l.dispute(ch, pi, l.ago(day))
	order := l.shopifyOrder(hal, l.ago(2*day))
	l.shopifyRefund(order, l.ago(day))
	person(hal, "clean", nil, stripeKey(hal), phoneKey(hal), fmt.Sprintf("shopify:%d", hal.shopify),
		"stripe.charge:"+ch, "stripe.payment_intent:"+pi, fmt.Sprintf("shopify.order:%d", order))

	// Near misses. ida contacts twice in a week.
	l.ticket(ida, "email", l.ago(2*day), true)
	l.chat(ida, l.ago(day), 4)
	person(ida, "near-miss", nil, stripeKey(ida), phoneKey(ida), fmt.Sprintf("zendesk:%d", ida.zendesk), "intercom:"+ida.intercom)

	// jon's payment fails once (reported three times), then succeeds.
	inv = l.id("in_L")
	l.invoiceAttempt(jon, inv, 1, false, l.ago(2*day))
	l.invoiceAttempt(jon, inv, 2, true, l.ago(day))
	person(jon, "near-miss", nil, stripeKey(jon), phoneKey(jon))

	// kim is a passive (7) on Typeform.
	l.typeform(kim, "nps", 7, l.ago(day))
	person(kim, "near-miss", nil, stripeKey(kim), phoneKey(kim))

	// lou emails support, then calls: email is not a digital attempt.
	l.ticket(lou, "email", l.ago(50*time.Minute), true)
	l.call(lou, "inbound", "completed", l.ago(20*time.Minute))
	person(lou, "near-miss", nil, stripeKey(lou), phoneKey(lou), fmt.Sprintf("zendesk:%d", lou.zendesk))

	// max's text goes through every intermediate status and is read; the
	// business's call to him goes unanswered.
	l.outboundSMS(max, []string{"queued", "sending", "sent", "delivered", "read"})
	l.call(max, "outbound-api", "no-answer", l.ago(3*time.Hour))
	person(max, "near-miss", nil, stripeKey(max), phoneKey(max))

	// nia's Shopify order is placed, paid, fulfilled, shipped and delivered.
	order = l.shopifyOrder(nia, l.ago(3*day))
	l.shopifyTopic("orders/paid", l.orderBody(nia, order, l.ago(3*day), l.ago(3*day-2*time.Minute), nil), l.ago(3*day-2*time.Minute))
	l.shopifyFulfilment(nia, order, l.ago(2*day))
	person(nia, "clean", nil, phoneKey(nia), fmt.Sprintf("shopify:%d", nia.shopify), fmt.Sprintf("shopify.order:%d", order))

	// oli pays through Stripe Checkout and the in-house checkout service
	// reports it in the Standard Webhooks envelope.
	l.checkoutSession(oli, l.ago(day))
	l.checkoutEnvelope(oli, l.ago(day))
	person(oli, "clean", nil, stripeKey(oli), phoneKey(oli), "checkout:"+oli.app)

	// pia chats, rates it 5.
	l.chat(pia, l.ago(day), 5)
	person(pia, "clean", nil, "intercom:"+pia.intercom, phoneKey(pia))

	// raj and sue share a landline: each their own customer.
	l.delighted(raj, 9, l.ago(day))
	l.typeform(sue, "csat", 5, l.ago(day))
	person(raj, "clean", nil, stripeKey(raj))
	person(sue, "clean", nil, stripeKey(sue))

	// The crowd: subscribers, shoppers and people first seen by one key
	// each (an email, then a text) whom the Stripe customer ties together.
	for i, name := range []string{"ada", "ben", "cal", "deb", "eli", "fin", "gia", "hugo", "ines", "joel", "kai", "lena"} {
		p := mk(30+i, name)
		switch i % 3 {
		case 0:
			l.phase = 1
			l.stripeCustomer("customer.created", p, l.ago(3*day))
			l.phase = 2
			l.invoiceAttempt(p, l.id("in_L"), 1, true, l.ago(2*day+time.Duration(i)*time.Hour))
			person(p, "clean", nil, stripeKey(p), phoneKey(p))
		case 1:
			l.phase = 1
			l.shopifyCustomer(p, l.ago(3*day))
			l.phase = 2
			order := l.shopifyOrder(p, l.ago(3*day-time.Duration(i)*time.Hour))
			l.shopifyTopic("orders/paid", l.orderBody(p, order, l.ago(3*day-time.Duration(i)*time.Hour), l.ago(3*day-time.Duration(i)*time.Hour-2*time.Minute), nil),
				l.ago(3*day-time.Duration(i)*time.Hour-2*time.Minute))
			l.shopifyFulfilment(p, order, l.ago(2*day))
			person(p, "clean", nil, phoneKey(p), fmt.Sprintf("shopify:%d", p.shopify), fmt.Sprintf("shopify.order:%d", order))
		default:
			l.phase = 0
			l.sendgridBatch(l.ago(3*day), []sgItem{{p, "processed", l.ago(3 * day)}, {p, "delivered", l.ago(3*day - time.Minute)}})
			l.inboundSMS(p, "Hi, quick question")
			l.phase = 1
			l.stripeCustomer("customer.created", p, l.ago(3*day))
			l.intercomContact("contact.user.created", p, l.ago(3*day))
			l.phase = 2
			l.chat(p, l.ago(day+time.Duration(i)*time.Hour), 5)
			person(p, "clean", nil, stripeKey(p), phoneKey(p), "intercom:"+p.intercom)
		}
	}

	// Everyday mail, with the events SendGrid sends beside delivery.
	var items []sgItem
	for _, p := range []lp{ann, bob, cy, dee, eve, fay, hal, ida, kim, lou, nia, oli, pia, raj, sue} {
		at := l.ago(30 * time.Hour)
		items = append(items, sgItem{p, "processed", at}, sgItem{p, "delivered", at.Add(time.Minute)}, sgItem{p, "open", at.Add(time.Hour)})
	}
	items = append(items, sgItem{kim, "click", l.ago(29 * time.Hour)}, sgItem{lou, "unsubscribe", l.ago(28 * time.Hour)},
		sgItem{lou, "group_resubscribe", l.ago(27 * time.Hour)})
	l.sendgridBatch(l.ago(26*time.Hour), items)

	// Staff at work: a test text from the support line to itself.
	l.twilio(l.ago(0), url.Values{"MessageSid": {l.smsSid()}, "SmsStatus": {"received"}, "From": {SupportLine}, "To": {SupportLine},
		"Body": {"test"}, "NumMedia": {"0"}}, 0)

	// Deliberately bad: a Stripe event type nobody subscribes to on
	// purpose, and a SendGrid item without its recipient.
	l.add(Request{At: l.ago(day), Channel: "stripe", What: "unknown", Quarantined: 1, Body: mustJSON(map[string]any{
		"id": l.id("evt_L"), "object": "event", "api_version": "2024-06-20", "created": l.ago(day).Unix(), "type": "issuing_dispute.funds_rescinded",
		"livemode": false, "data": map[string]any{"object": map[string]any{"id": "idp_1", "object": "issuing.dispute"}}})})
	l.add(Request{At: l.ago(day), Channel: "sendgrid", What: "email.*", Quarantined: 1, Body: mustJSON([]any{
		map[string]any{"timestamp": l.ago(day).Unix(), "event": "delivered", "sg_event_id": l.id("sgL"), "sg_message_id": l.id("msgL")},
		l.sgItem(sgItem{kim, "processed", l.ago(day)}),
	})})

	return Labelled{
		Phases: l.phases, People: people, BadRows: 2, SharedPhone: shared, Refusals: 1,
		IdentityYAML: `# The shop's guardrails: its own support line and shared
# inboxes never link people; a person has one email address.
never_link:
  - email:noreply@*
  - phone:` + SupportLine + `
limits:
  email: 1
  phone: 2
`,
	}
}

// --- Stripe ---------------------------------------------------------------

func (l *labeller) stripe(typ string, at time.Time, obj map[string]any, ignored bool) {
	r := Request{At: at, Channel: "stripe", What: typ, Body: mustJSON(map[string]any{
		"id": l.id("evt_L"), "object": "event", "api_version": "2024-06-20", "created": at.Unix(), "type": typ,
		"livemode": false, "pending_webhooks": 1, "request": map[string]any{"id": nil, "idempotency_key": nil},
		"data": map[string]any{"object": obj},
	})}
	if ignored {
		r.Ignored = 1
	}
	l.add(r)
}

func (l *labeller) stripeCustomer(typ string, p lp, at time.Time) {
	obj := map[string]any{"id": p.stripe, "object": "customer", "balance": 0, "created": at.Unix(), "currency": nil,
		"delinquent": false, "description": nil, "invoice_prefix": "L" + strings.ToUpper(p.stripe[len(p.stripe)-4:]), "livemode": false,
		"metadata": map[string]any{}, "name": p.name, "next_invoice_sequence": 1, "preferred_locales": []any{}, "tax_exempt": "none"}
	obj["email"], obj["phone"] = nilIfEmpty(p.email), nilIfEmpty(p.phone)
	l.stripe(typ, at, obj, p.email == "" && p.phone == "")
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// invoiceAttempt is one attempt to collect an invoice, with the events
// Stripe sends for it: the invoice's, its payment intent's (which names
// the invoice in API versions before 2025-03-31) and its charge's.
func (l *labeller) invoiceAttempt(p lp, inv string, attempt int, paid bool, at time.Time) {
	pi, ch := "pi_"+inv[3:], l.id("ch_L")
	if attempt == 1 {
		l.stripe("invoice.created", at.Add(-time.Hour), l.invoice(p, inv, pi, "", "draft", 0, false), true)
		l.stripe("invoice.finalized", at.Add(-time.Hour), l.invoice(p, inv, pi, "", "open", 0, false), true)
		l.stripe("payment_intent.created", at.Add(-time.Hour), l.paymentIntent(p, pi, "", inv, "requires_payment_method", false), true)
	}
	if paid {
		l.stripe("charge.succeeded", at, l.charge(p, ch, pi, inv, true), false)
		l.stripe("payment_intent.succeeded", at, l.paymentIntent(p, pi, ch, inv, "succeeded", false), false)
		l.stripe("invoice.payment_succeeded", at, l.invoice(p, inv, pi, ch, "paid", attempt, true), true)
		l.stripe("invoice.paid", at, l.invoice(p, inv, pi, ch, "paid", attempt, true), false)
		return
	}
	l.stripe("charge.failed", at, l.charge(p, ch, pi, inv, false), false)
	l.stripe("payment_intent.payment_failed", at, l.paymentIntent(p, pi, ch, inv, "requires_payment_method", true), false)
	l.stripe("invoice.payment_failed", at, l.invoice(p, inv, pi, ch, "open", attempt, false), false)
	l.stripe("invoice.updated", at, l.invoice(p, inv, pi, ch, "open", attempt, false), true)
}

func (l *labeller) invoice(p lp, inv, pi, ch, status string, attempt int, paid bool) map[string]any {
	amountPaid := 0
	if paid {
		amountPaid = 4900
	}
	return map[string]any{"id": inv, "object": "invoice", "customer": p.stripe, "customer_email": p.email, "customer_phone": p.phone,
		"amount_due": 4900, "amount_paid": amountPaid, "currency": "usd", "attempt_count": attempt, "attempted": attempt > 0,
		"billing_reason": "subscription_cycle", "status": status, "subscription": "sub_" + p.stripe[4:],
		"payment_intent": nilIfEmpty(pi), "charge": nilIfEmpty(ch), "livemode": false}
}

func (l *labeller) paymentIntent(p lp, pi, ch, inv, status string, failed bool) map[string]any {
	obj := map[string]any{"id": pi, "object": "payment_intent", "amount": 4900, "amount_received": 0, "currency": "usd",
		"customer": p.stripe, "invoice": nilIfEmpty(inv), "latest_charge": nilIfEmpty(ch), "status": status, "livemode": false,
		"receipt_email": nil, "payment_method_types": []any{"card"}, "last_payment_error": nil}
	if status == "succeeded" {
		obj["amount_received"] = 4900
	}
	if failed {
		obj["last_payment_error"] = map[string]any{"code": "card_declined", "decline_code": "insufficient_funds",
			"message": "Your card has insufficient funds.", "type": "card_error", "charge": ch,
			"payment_method": map[string]any{"type": "card", "billing_details": map[string]any{"email": p.email, "phone": nil}}}
	}
	return obj
}

func (l *labeller) charge(p lp, ch, pi, inv string, ok bool) map[string]any {
	obj := map[string]any{"id": ch, "object": "charge", "amount": 4900, "amount_captured": 0, "amount_refunded": 0, "captured": ok,
		"currency": "usd", "customer": p.stripe, "invoice": nilIfEmpty(inv), "payment_intent": pi, "paid": ok, "refunded": false,
		"receipt_email": p.email, "status": map[bool]string{true: "succeeded", false: "failed"}[ok], "livemode": false,
		"billing_details": map[string]any{"email": nil, "phone": nil, "name": p.name,
			"address": map[string]any{"city": nil, "country": "US", "line1": nil, "line2": nil, "postal_code": "94107", "state": nil}},
		"failure_code": nil, "failure_message": nil,
		"outcome": map[string]any{"network_status": "approved_by_network", "reason": nil, "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized"}}
	if ok {
		obj["amount_captured"] = 4900
	} else {
		obj["failure_code"], obj["failure_message"] = "card_declined", "Your card has insufficient funds."
		obj["outcome"] = map[string]any{"network_status": "declined_by_network", "reason": "insufficient_funds", "risk_level": "normal", "seller_message": "The bank returned the decline code `insufficient_funds`.", "type": "issuer_declined"}
	}
	return obj
}

// payment is a one-off card payment through a payment intent.
func (l *labeller) payment(p lp, pi, ch, inv string, at time.Time) {
	l.stripe("payment_intent.created", at.Add(-time.Minute), l.paymentIntent(p, pi, "", inv, "requires_payment_method", false), true)
	l.stripe("charge.succeeded", at, l.charge(p, ch, pi, inv, true), false)
	l.stripe("payment_intent.succeeded", at, l.paymentIntent(p, pi, ch, inv, "succeeded", false), false)
}

func (l *labeller) dispute(ch, pi string, at time.Time) {
	dp := l.id("dp_L")
	obj := func(status string) map[string]any {
		return map[string]any{"id": dp, "object": "dispute", "amount": 4900, "currency": "usd", "charge": ch, "payment_intent": pi,
			"reason": "product_not_received", "status": status, "is_charge_refundable": false, "livemode": false,
			"evidence": map[string]any{"customer_email_address": nil, "customer_name": nil}}
	}
	l.stripe("charge.dispute.created", at, obj("needs_response"), false)
	l.stripe("charge.dispute.funds_withdrawn", at.Add(time.Minute), obj("needs_response"), true)
	l.stripe("charge.dispute.updated", at.Add(time.Hour), obj("under_review"), true)
}

func (l *labeller) checkoutSession(p lp, at time.Time) {
	cs, pi, ch := l.id("cs_L"), l.id("pi_L"), l.id("ch_L")
	details := map[string]any{"email": p.email, "name": p.name, "phone": p.phone, "tax_exempt": "none", "tax_ids": []any{}}
	l.stripe("checkout.session.completed", at, map[string]any{"id": cs, "object": "checkout.session", "amount_subtotal": 2198,
		"amount_total": 2198, "currency": "usd", "customer": p.stripe, "customer_creation": "if_required", "customer_details": details,
		"customer_email": nil, "mode": "payment", "payment_intent": pi, "payment_status": "paid", "status": "complete", "livemode": false}, false)
	l.stripe("charge.succeeded", at, l.charge(p, ch, pi, "", true), false)
	l.stripe("payment_intent.succeeded", at, l.paymentIntent(p, pi, ch, "", "succeeded", false), false)
}

// --- the in-house checkout service (Standard Webhooks envelope) ------------

func (l *labeller) checkoutEnvelope(p lp, at time.Time) {
	l.add(Request{At: at, Channel: "checkout", What: "checkout.completed", Header: map[string]string{"webhook-id": l.id("msg_L")},
		Body: mustJSON(map[string]any{"type": "checkout.completed", "timestamp": at.Format(time.RFC3339Nano),
			"data": map[string]any{"cart_id": l.id("cart_"), "total": 21.98, "currency": "USD",
				"user": map[string]any{"id": p.app, "email": p.email}}})})
}

// --- Shopify --------------------------------------------------------------

func (l *labeller) shopifyTopic(topic string, body []byte, at time.Time) {
	r := Request{At: at, Channel: "shopify", What: topic, Body: body, Header: map[string]string{
		"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": l.id("whL-"), "X-Shopify-Event-Id": l.id("evL-"),
		"X-Shopify-Shop-Domain": "ocx-demo.myshopify.com", "X-Shopify-Triggered-At": at.Format(time.RFC3339), "X-Shopify-Api-Version": "2025-07",
	}}
	switch topic {
	case "orders/paid", "orders/updated", "fulfillments/create":
		r.Ignored = 1
	}
	if topic == "fulfillments/update" && !strings.Contains(string(body), `"shipment_status":"delivered"`) {
		r.Ignored = 1
	}
	l.add(r)
}

func (l *labeller) shopifyCustomer(p lp, at time.Time) {
	l.shopifyTopic("customers/create", mustJSON(map[string]any{"id": p.shopify, "email": p.email, "phone": p.phone,
		"created_at": at.Format(time.RFC3339), "updated_at": at.Format(time.RFC3339), "first_name": p.name, "last_name": "Example",
		"orders_count": 0, "state": "enabled", "total_spent": "0.00", "verified_email": true, "tax_exempt": false, "tags": "",
		"currency": "USD", "addresses": []any{}, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/Customer/%d", p.shopify)}), at)
}

func (l *labeller) orderBody(p lp, id int64, created, updated time.Time, extra map[string]any) []byte {
	body := map[string]any{"id": id, "name": fmt.Sprintf("#%d", 1000+id%1000), "order_number": 1000 + id%1000, "email": p.email,
		"created_at": created.Format(time.RFC3339), "updated_at": updated.Format(time.RFC3339), "total_price": "49.00",
		"currency": "USD", "financial_status": "paid", "fulfillment_status": nil, "test": false,
		"customer": map[string]any{"id": p.shopify, "email": p.email, "phone": p.phone}}
	for k, v := range extra {
		body[k] = v
	}
	return mustJSON(body)
}

func (l *labeller) shopifyOrder(p lp, at time.Time) int64 {
	l.seq++
	id := 5500000000 + int64(l.seq)
	l.shopifyTopic("orders/create", l.orderBody(p, id, at, at, nil), at)
	l.shopifyTopic("orders/updated", l.orderBody(p, id, at, at.Add(time.Minute), nil), at.Add(time.Minute))
	return id
}

func (l *labeller) shopifyFulfilment(p lp, order int64, at time.Time) {
	fid := order + 7
	fulfilment := func(status string, updated time.Time) []byte {
		return mustJSON(map[string]any{"id": fid, "order_id": order, "status": "success", "created_at": at.Format(time.RFC3339),
			"updated_at": updated.Format(time.RFC3339), "tracking_company": "UPS", "shipment_status": nilIfEmpty(status),
			"email": p.email, "tracking_number": "1Z999AA10123456784", "name": fmt.Sprintf("#%d.1", 1000+order%1000)})
	}
	l.shopifyTopic("fulfillments/create", fulfilment("", at), at)
	l.shopifyTopic("orders/fulfilled", l.orderBody(p, order, at.Add(-day), at, map[string]any{"fulfillment_status": "fulfilled",
		"fulfillments": []any{map[string]any{"id": fid, "status": "success", "created_at": at.Format(time.RFC3339), "tracking_company": "UPS"}}}), at)
	l.shopifyTopic("fulfillments/update", fulfilment("in_transit", at.Add(6*time.Hour)), at.Add(6*time.Hour))
	l.shopifyTopic("fulfillments/update", fulfilment("delivered", at.Add(day)), at.Add(day))
}

const day = 24 * time.Hour

func (l *labeller) shopifyRefund(order int64, at time.Time) {
	l.shopifyTopic("refunds/create", mustJSON(map[string]any{"id": order + 11, "order_id": order, "created_at": at.Format(time.RFC3339),
		"note": "Item never arrived", "restock": false, "processed_at": at.Format(time.RFC3339),
		"transactions": []any{map[string]any{"id": order + 12, "order_id": order, "kind": "refund", "gateway": "bogus", "status": "success",
			"amount": "49.00", "currency": "USD"}}, "refund_line_items": []any{}}), at)
	l.phases[l.phase][len(l.phases[l.phase])-1].What = "order.refunded"
}

// --- Zendesk --------------------------------------------------------------

func (l *labeller) zendesk(typ, subject string, at time.Time, detail, event map[string]any, ignored bool) {
	r := Request{At: at, Channel: "zendesk", What: typ, Header: map[string]string{"X-Zendesk-Webhook-Invocation-Id": l.id("invL-")},
		Body: mustJSON(map[string]any{"account_id": 22129848, "id": l.id("zenL-"), "subject": subject, "time": at.Format(time.RFC3339Nano),
			"type": "zen:event-type:" + typ, "zendesk_event_version": "2022-11-06", "detail": detail, "event": event})}
	if ignored {
		r.Ignored = 1
	}
	l.add(r)
}

func (l *labeller) zendeskUser(p lp, role string, at time.Time) {
	id := strconv.FormatInt(p.zendesk, 10)
	l.zendesk("user.created", "zen:user:"+id, at, map[string]any{"id": id, "email": p.email, "role": role, "created_at": at.Format(time.RFC3339),
		"updated_at": at.Format(time.RFC3339), "external_id": nil, "default_group_id": "0", "organization_id": nil}, map[string]any{}, role != "end-user")
}

// ticket opens a Zendesk ticket by via; an agent answers within the hour
// and, when solve is set, solves it.
func (l *labeller) ticket(p lp, via string, at time.Time, solve bool) {
	l.seq++
	id := strconv.Itoa(41000 + l.seq)
	detail := func(status string, at time.Time) map[string]any {
		return map[string]any{"id": id, "requester_id": strconv.FormatInt(p.zendesk, 10), "submitter_id": strconv.FormatInt(p.zendesk, 10),
			"status": status, "priority": "NORMAL", "type": "QUESTION", "subject": "Where is my order?", "via": map[string]any{"channel": via},
			"created_at": at.Format(time.RFC3339), "updated_at": at.Format(time.RFC3339), "tags": []any{}, "brand_id": "360000000000"}
	}
	l.zendesk("ticket.created", "zen:ticket:"+id, at, detail("NEW", at), map[string]any{}, false)
	l.zendesk("ticket.group_assignment_changed", "zen:ticket:"+id, at.Add(time.Minute), detail("NEW", at), map[string]any{"current": map[string]any{"id": "360001"}, "previous": nil}, true)
	reply := at.Add(15 * time.Minute)
	l.zendesk("ticket.comment_added", "zen:ticket:"+id, reply, detail("OPEN", at), map[string]any{"comment": map[string]any{
		"id": l.seq, "body": "Thanks for reaching out, we are on it.", "is_public": true,
		"author": map[string]any{"id": "38999999", "is_staff": true, "name": "Agent"}}}, false)
	l.zendesk("ticket.priority_changed", "zen:ticket:"+id, reply.Add(time.Minute), detail("OPEN", at), map[string]any{"current": "HIGH", "previous": "NORMAL"}, true)
	if solve {
		l.zendesk("ticket.status_changed", "zen:ticket:"+id, reply.Add(5*time.Minute), detail("SOLVED", at), map[string]any{"current": "SOLVED", "previous": "OPEN"}, false)
	}
}

// --- Intercom -------------------------------------------------------------

func (l *labeller) intercom(topic string, at time.Time, item map[string]any, ignored bool) {
	r := Request{At: at, Channel: "intercom", What: topic, Body: mustJSON(map[string]any{
		"type": "notification_event", "app_id": "ocxlabel", "id": l.id("notif_L"), "topic": topic, "created_at": at.Unix(),
		"delivery_status": "pending", "delivery_attempts": 1, "first_sent_at": at.Unix(),
		"data": map[string]any{"type": "notification_event_data", "item": item}})}
	if ignored {
		r.Ignored = 1
	}
	l.add(r)
}

func (l *labeller) intercomPing() {
	r := Request{At: l.ago(3 * day), Channel: "intercom", What: "ping", Ignored: 1, Body: mustJSON(map[string]any{
		"type": "notification_event", "app_id": "ocxlabel", "id": nil, "topic": "ping", "created_at": l.ago(3 * day).Unix(),
		"data": map[string]any{"type": "notification_event_data", "item": map[string]any{"type": "ping", "message": "something something interzen"}}})}
	l.add(r)
}

func (l *labeller) intercomContact(topic string, p lp, at time.Time) {
	role := "user"
	if strings.Contains(topic, "lead") {
		role = "lead"
	}
	l.intercom(topic, at, map[string]any{"type": "contact", "id": p.intercom, "role": role, "email": nilIfEmpty(p.email),
		"phone": nilIfEmpty(p.phone), "name": p.name, "external_id": nilIfEmpty(p.app), "created_at": at.Unix(), "updated_at": at.Unix(),
		"signed_up_at": at.Unix(), "has_hard_bounced": false, "unsubscribed_from_emails": false}, p.email == "" && p.phone == "")
}

// chat opens, assigns, answers and closes an Intercom conversation; a
// rating (1-5) follows when rating is set.
func (l *labeller) chat(p lp, at time.Time, rating int) {
	l.seq++
	conv := strconv.Itoa(1950000000 + l.seq)
	contacts := map[string]any{"type": "contact.list", "contacts": []any{map[string]any{"type": "contact", "id": p.intercom, "external_id": p.app}}}
	item := func(state string, extra map[string]any) map[string]any {
		it := map[string]any{"type": "conversation", "id": conv, "created_at": at.Unix(), "state": state, "contacts": contacts,
			"source": map[string]any{"type": "conversation", "id": "40" + conv, "delivered_as": "customer_initiated",
				"author": map[string]any{"type": "user", "id": p.intercom, "email": p.email}}}
		for k, v := range extra {
			it[k] = v
		}
		return it
	}
	part := func(typ string, at time.Time, author string) map[string]any {
		return map[string]any{"conversation_parts": map[string]any{"type": "conversation_part.list", "conversation_parts": []any{
			map[string]any{"id": l.id(""), "part_type": typ, "created_at": at.Unix(), "author": map[string]any{"type": author, "id": "814860"}}}}}
	}
	l.intercom("conversation.user.created", at, item("open", nil), false)
	l.intercom("conversation.admin.assigned", at.Add(time.Minute), item("open", part("assignment", at.Add(time.Minute), "admin")), true)
	l.intercom("conversation.admin.replied", at.Add(5*time.Minute), item("open", part("comment", at.Add(5*time.Minute), "admin")), false)
	closed := at.Add(20 * time.Minute)
	l.intercom("conversation.admin.closed", closed, item("closed", part("close", closed, "admin")), false)
	if rating > 0 {
		rated := closed.Add(10 * time.Minute)
		l.intercom("conversation.rating.added", rated, item("closed", map[string]any{"conversation_rating": map[string]any{
			"rating": rating, "remark": "", "created_at": rated.Unix(), "contact": map[string]any{"type": "contact", "id": p.intercom}}}), false)
	}
}

// --- Twilio ---------------------------------------------------------------

func (l *labeller) smsSid() string { l.seq++; return fmt.Sprintf("SM%032x", 0xA000+l.seq) }

func (l *labeller) twilio(at time.Time, v url.Values, ignored int) {
	v.Set("AccountSid", "AC"+strings.Repeat("1", 32))
	v.Set("ApiVersion", "2010-04-01")
	what := v.Get("MessageStatus")
	if what == "" {
		what = v.Get("SmsStatus") + v.Get("CallStatus")
	}
	l.add(Request{At: at, Channel: "twilio", What: what, ContentType: "application/x-www-form-urlencoded", Body: []byte(v.Encode()), Ignored: ignored})
}

func (l *labeller) inboundSMS(p lp, text string) {
	sid := l.smsSid()
	l.twilio(l.now, url.Values{"MessageSid": {sid}, "SmsSid": {sid}, "SmsMessageSid": {sid}, "SmsStatus": {"received"},
		"From": {p.phone}, "To": {SupportLine}, "Body": {text}, "NumMedia": {"0"}, "NumSegments": {"1"}, "FromCountry": {"US"}}, 0)
}

// outboundSMS reports a business text to p through each status Twilio
// calls back with.
func (l *labeller) outboundSMS(p lp, statuses []string) {
	sid := l.smsSid()
	for _, st := range statuses {
		v := url.Values{"MessageSid": {sid}, "SmsSid": {sid}, "MessageStatus": {st}, "SmsStatus": {st}, "From": {SupportLine}, "To": {p.phone}}
		ignored := 1
		switch st {
		case "undelivered", "failed":
			v.Set("ErrorCode", "30003")
			ignored = 0
		case "delivered", "read":
			ignored = 0
		}
		l.twilio(l.now, v, ignored)
	}
}

// call reports a call through its progress callbacks and its end.
func (l *labeller) call(p lp, direction, end string, at time.Time) {
	l.seq++
	sid := fmt.Sprintf("CA%032x", 0xB000+l.seq)
	from, to := p.phone, SupportLine
	if direction != "inbound" {
		from, to = SupportLine, p.phone
	}
	for i, st := range []string{"initiated", "ringing", end} {
		v := url.Values{"CallSid": {sid}, "CallStatus": {st}, "Direction": {direction}, "From": {from}, "To": {to}, "Caller": {from},
			"Called": {to}, "Timestamp": {at.Add(time.Duration(i) * 10 * time.Second).Format(time.RFC1123Z)},
			"CallbackSource": {"call-progress-events"}, "SequenceNumber": {strconv.Itoa(i)}}
		ignored := 1
		if st == end {
			v.Set("CallDuration", map[bool]string{true: "240", false: "0"}[end == "completed"])
			ignored = 0
		}
		l.twilio(at, v, ignored)
	}
}

// --- SendGrid -------------------------------------------------------------

type sgItem struct {
	p     lp
	event string
	at    time.Time
}

func (l *labeller) sgItem(it sgItem) map[string]any {
	m := map[string]any{"email": it.p.email, "timestamp": it.at.Unix(), "event": it.event, "sg_event_id": l.id("sgL"),
		"sg_message_id": "msgL." + it.p.name + ".filter0001", "smtp-id": "<msgL." + it.p.name + "@ocx.example>", "category": "receipts"}
	switch it.event {
	case "delivered":
		m["response"] = "250 OK"
	case "bounce":
		m["type"], m["reason"], m["status"] = "bounce", "550 5.1.1 mailbox does not exist", "5.1.1"
	case "open":
		m["useragent"], m["sg_machine_open"] = "Mozilla/5.0", false
	case "click":
		m["useragent"], m["url"] = "Mozilla/5.0", "https://ocx-demo.example/orders"
	case "group_resubscribe":
		m["asm_group_id"] = 10
	}
	return m
}

func (l *labeller) sendgridBatch(at time.Time, items []sgItem) {
	body := make([]any, len(items))
	ignored := 0
	for i, it := range items {
		body[i] = l.sgItem(it)
		if it.event == "group_resubscribe" {
			ignored++
		}
	}
	l.add(Request{At: at, Channel: "sendgrid", What: "email.*", Body: mustJSON(body), Ignored: ignored})
}

// --- surveys --------------------------------------------------------------

func (l *labeller) delighted(p lp, score int, at time.Time) {
	l.add(Request{At: at, Channel: "delighted", What: "survey.responded", Body: mustJSON(map[string]any{
		"event_type": "survey_response.created", "event_id": l.id("dlgL"),
		"event_data": map[string]any{"id": l.id(""), "survey_type": "nps", "score": score, "created_at": at.Unix(), "updated_at": at.Unix(),
			"person": map[string]any{"id": l.id(""), "email": p.email, "name": p.name}}})})
}

func (l *labeller) typeform(p lp, ref string, score int, at time.Time) {
	l.add(Request{At: at, Channel: "typeform", What: "survey.responded", Body: mustJSON(map[string]any{
		"event_id": l.id("01LABEL"), "event_type": "form_response",
		"form_response": map[string]any{"form_id": "ocxlabel", "token": l.id("tokL"), "landed_at": at.Add(-time.Minute).Format(time.RFC3339),
			"submitted_at": at.Format(time.RFC3339), "hidden": map[string]any{"email": p.email},
			"definition": map[string]any{"id": "ocxlabel", "title": "How are we doing?", "fields": []any{
				map[string]any{"id": "f_" + ref, "title": "Your score", "type": "opinion_scale", "ref": ref}}},
			"answers": []any{map[string]any{"type": "number", "number": score, "field": map[string]any{"id": "f_" + ref, "type": "opinion_scale", "ref": ref}}}}})})
}
