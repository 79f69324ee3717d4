// Package demo tells a month of customer traffic as the providers would
// send it — signed webhooks from the in-house app, Shopify, Stripe,
// Zendesk, Intercom, Twilio, SendGrid, Typeform and Delighted — with the
// failures every shipped rule watches for mixed in, and sends it to a
// running stack. `ocx demo` and the local-stack tests use the same story.
package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Request is one provider webhook.
type Request struct {
	At      time.Time
	Channel string
	// What names the canonical types it should become, for messages.
	What        string
	ContentType string
	Header      map[string]string
	Body        []byte
	// Facts are the interactions the request means, in the order the
	// provider lists them.
	Facts []Fact
	// Quarantined and Ignored are how many of its items must become bad
	// rows and how many the channel must ignore on purpose; the sender
	// fails a request answered otherwise.
	Quarantined, Ignored int
}

// Fact is one interaction as the story means it: what a test computes the
// expected figures from without going through the stack's code.
type Fact struct {
	// At is when it happened; zero when the provider sends no event time
	// (Twilio's message callbacks), so the stack stamps the receipt time.
	At      time.Time
	Channel string
	Type    string
	// Person numbers the customer of the story.
	Person int
	// Attrs are the customer attributes the event itself carries (only
	// the in-house app sends plan and region).
	Attrs map[string]string
	// Survey and Score are set for a survey answer.
	Survey string
	Score  int
	// Contact is true for a contact the customer started.
	Contact bool
	// Ref is the provider's object it is about: the order, invoice or
	// ticket (a journey instance).
	Ref string
}

// person is one customer of the story. Every channel knows them by what
// that provider knows: the app by id, email and phone (which links the
// others), Zendesk by requester id, Twilio by phone.
type person struct {
	n            int
	id, email    string
	phone        string
	plan, region string
	zendesk      int64
	intercom     string
	stripe       string
	shopify      int64
}

func (p person) attrs() map[string]string {
	return map[string]string{"plan": p.plan, "region": p.region}
}

type story struct {
	rng  *rand.Rand
	now  time.Time
	from time.Time
	reqs []Request
	seq  int
	// orders and texts count what was told, so the first ones can be the
	// failures every story must show however small it is.
	orders, texts, surveys int
}

// Story returns the webhooks of days of traffic, ending at now, from
// customers customers, in time order. The same seed, now and size give
// the same story.
func Story(seed uint64, now time.Time, days, customers int) []Request {
	now = now.UTC().Truncate(time.Second)
	s := &story{rng: rand.New(rand.NewPCG(seed, 7)), now: now, from: now.AddDate(0, 0, -days)}
	return s.tell(customers)
}

var (
	firstNames = []string{"ann", "bob", "chen", "dara", "eva", "femi", "gus", "hana", "ivan", "jo", "kai", "lea", "mo", "nia", "omar", "pia", "raj", "sam", "tess", "uma", "vic", "wen", "yara", "zoe"}
	lastNames  = []string{"lee", "smith", "garcia", "kim", "novak", "okafor", "rossi", "sato", "silva", "jones", "muller", "nguyen", "khan", "dubois"}
)

func (s *story) person(n int) person {
	// Attributes follow from n, so a customer drawn twice is the same.
	plan := "free"
	switch r := (n * 7) % 10; {
	case r == 0:
		plan = "enterprise"
	case r < 4:
		plan = "pro"
	}
	return person{
		n: n, id: fmt.Sprintf("u-%05d", n),
		email:   fmt.Sprintf("%s.%s%d@example.com", firstNames[n%len(firstNames)], lastNames[(n/len(firstNames))%len(lastNames)], n),
		phone:   fmt.Sprintf("+1555%07d", 1000000+n),
		plan:    plan,
		region:  []string{"eu", "us", "us", "apac"}[(n/3)%4],
		zendesk: 9000000 + int64(n), intercom: fmt.Sprintf("64%022x", n), stripe: fmt.Sprintf("cus_Demo%06d", n),
		shopify: 7000000 + int64(n),
	}
}

// at is a random time in the story, at least margin before now.
func (s *story) at(margin time.Duration) time.Time {
	span := s.now.Sub(s.from) - margin
	return s.from.Add(time.Duration(s.rng.Int64N(int64(span)))).Truncate(time.Second)
}

func (s *story) chance(p float64) bool { return s.rng.Float64() < p }

func (s *story) between(lo, hi time.Duration) time.Duration {
	// Whole seconds, as most providers send times.
	return (lo + time.Duration(s.rng.Int64N(int64(hi-lo)))).Truncate(time.Second)
}

func (s *story) id(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%08d", prefix, s.seq)
}

// add keeps a request unless it would lie in the future.
func (s *story) add(r Request) {
	if r.At.After(s.now) {
		return
	}
	if r.ContentType == "" {
		r.ContentType = "application/json"
	}
	s.reqs = append(s.reqs, r)
}

// fact is the single interaction of a request about p.
func fact(ch, typ string, p person, at time.Time) []Fact {
	return []Fact{{At: at, Channel: ch, Type: typ, Person: p.n}}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// tell writes the month: every customer uses the app; some order, pay,
// ask support, chat, text, get email and answer surveys.
func (s *story) tell(customers int) []Request {
	for n := range customers {
		p := s.person(n)
		s.app(p)
		if s.chance(0.5) {
			s.order(p)
		}
		if p.plan != "free" || s.chance(0.1) {
			s.invoice(p)
		}
		if s.chance(0.25) {
			s.ticket(p, s.at(6*time.Hour))
		}
		if s.chance(0.03) {
			// Three tickets in a week: a repeat contact.
			t := s.at(7 * 24 * time.Hour)
			for i := range 3 {
				s.ticket(p, t.Add(time.Duration(i)*s.between(12*time.Hour, 48*time.Hour)))
			}
		}
		if s.chance(0.2) {
			s.chat(p, s.at(3*time.Hour))
		}
		if s.chance(0.15) {
			s.sms(p, s.at(time.Hour))
		}
		if s.chance(0.3) {
			s.survey(p)
		}
	}
	// Recent channel hops: a chat, then a call within the hour. Twilio
	// sends no event time, so the call happens now and so does the chat.
	for range max(customers/100, 3) {
		p := s.person(s.rng.IntN(customers))
		s.chat(p, s.now.Add(-s.between(10*time.Minute, 40*time.Minute)))
		s.call(p)
	}
	s.email(customers)
	sort.SliceStable(s.reqs, func(i, j int) bool { return s.reqs[i].At.Before(s.reqs[j].At) })
	return s.reqs
}

// appEvent is an in-house app event (Standard Webhooks); it carries the
// customer's plan and region.
func (s *story) appEvent(p person, typ string, at time.Time, attrs map[string]any) {
	if attrs == nil {
		attrs = map[string]any{}
	}
	attrs["plan"], attrs["region"] = p.plan, p.region
	f := Fact{At: at, Channel: "app", Type: typ, Person: p.n, Attrs: p.attrs()}
	f.Ref, _ = attrs["order_id"].(string)
	if survey, ok := attrs["survey"].(string); ok {
		f.Survey, f.Score = survey, attrs["score"].(int)
	}
	s.add(Request{At: at, Channel: "app", What: typ, Header: map[string]string{"webhook-id": s.id("msg_")},
		Body: mustJSON(map[string]any{
			"type": typ, "occurred_at": at.Format(time.RFC3339),
			"customer":   map[string]any{"id": p.id, "email": p.email, "phone": p.phone},
			"attributes": attrs,
		}), Facts: []Fact{f}})
}

// app sends a session, or an onboarding that may stall or end early.
func (s *story) app(p person) {
	if !s.chance(0.3) {
		s.appEvent(p, "session.started", s.at(0), nil)
		return
	}
	// Onboarding: signed up this month.
	t := s.at(2 * time.Hour)
	s.appEvent(p, "account.created", t, nil)
	if !s.chance(0.8) {
		if s.chance(0.2) {
			s.appEvent(p, "account.closed", t.Add(s.between(2*time.Hour, 5*24*time.Hour)), nil)
		}
		return // left in signed-up: stalls after its 3-day SLA
	}
	t = t.Add(s.between(10*time.Minute, 2*24*time.Hour))
	s.appEvent(p, "account.verified", t, nil)
	if s.chance(0.85) {
		s.appEvent(p, "account.activated", t.Add(s.between(time.Hour, 5*24*time.Hour)), nil)
	}
}

// order follows a Shopify order to delivery (the app reports delivery).
func (s *story) order(p person) {
	id := 5000000000 + int64(s.seq)
	s.seq++
	created := s.at(time.Hour)
	total := fmt.Sprintf("%d.%02d", 10+s.rng.IntN(300), s.rng.IntN(100))
	order := func(topic, typ string, at time.Time, extra map[string]any) {
		body := map[string]any{
			"id": id, "name": fmt.Sprintf("#%d", id%100000), "order_number": id % 100000, "email": p.email,
			"created_at": created.Format(time.RFC3339), "updated_at": at.Format(time.RFC3339),
			"total_price": total, "currency": "usd", "financial_status": "paid",
			"customer": map[string]any{"id": p.shopify, "email": p.email, "phone": p.phone},
		}
		for k, v := range extra {
			body[k] = v
		}
		f := fact("shopify", typ, p, at)
		f[0].Ref = strconv.FormatInt(id, 10)
		s.add(Request{At: at, Channel: "shopify", What: typ, Body: mustJSON(body), Facts: f, Header: map[string]string{
			"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": s.id("wh-"), "X-Shopify-Event-Id": s.id("ev-"),
			"X-Shopify-Shop-Domain": "ocx-demo.myshopify.com", "X-Shopify-Triggered-At": at.Format(time.RFC3339),
		}})
	}
	n := s.orders
	s.orders++
	r := s.rng.Float64()
	// The in-house storefront reports its orders itself, with the promised
	// dates the order rules watch; Shopify's payloads carry no promise. The
	// first order of a story is never fulfilled and the second never
	// delivered, early enough for their promises to have passed.
	if n < 2 || r < 0.3 {
		ref := strconv.FormatInt(id, 10)
		if n < 2 {
			created = s.from.Add(24*time.Hour + s.between(0, 12*time.Hour)).Truncate(time.Second)
		}
		s.appEvent(p, "order.created", created, map[string]any{"order_id": ref, "total": total,
			"fulfil_by": created.Add(48 * time.Hour).Format(time.RFC3339)})
		switch {
		case n == 0:
			return
		case n == 1 || r < 0.03:
			shipped := created.Add(s.between(2*time.Hour, 40*time.Hour))
			s.appEvent(p, "order.fulfilled", shipped, map[string]any{"order_id": ref,
				"deliver_by": shipped.Add(72 * time.Hour).Format(time.RFC3339)})
			if n == 1 {
				return
			}
			s.appEvent(p, "order.delivered", shipped.Add(s.between(20*time.Hour, 60*time.Hour)), map[string]any{"order_id": ref})
		case r < 0.06:
			return // Never fulfilled: order.unfulfilled fires.
		default:
			shipped := created.Add(s.between(2*time.Hour, 40*time.Hour))
			s.appEvent(p, "order.fulfilled", shipped, map[string]any{"order_id": ref,
				"deliver_by": shipped.Add(72 * time.Hour).Format(time.RFC3339)})
			if s.chance(0.9) {
				s.appEvent(p, "order.delivered", shipped.Add(s.between(20*time.Hour, 60*time.Hour)), map[string]any{"order_id": ref})
			}
		}
		return
	}
	order("orders/create", "order.created", created, nil)
	switch {
	case r < 0.36:
		cancelled := created.Add(s.between(time.Hour, 24*time.Hour))
		order("orders/cancelled", "order.cancelled", cancelled,
			map[string]any{"cancel_reason": "customer", "cancelled_at": cancelled.Format(time.RFC3339)})
	case r < 0.42:
		// Never fulfilled; Shopify gives no promise, so no rule fires.
	default:
		shipped := created.Add(s.between(2*time.Hour, 40*time.Hour))
		order("orders/fulfilled", "order.fulfilled", shipped, map[string]any{"fulfillment_status": "fulfilled",
			"fulfillments": []any{map[string]any{"id": id + 1, "status": "success", "created_at": shipped.Format(time.RFC3339), "tracking_company": "UPS"}}})
		if s.chance(0.9) {
			s.appEvent(p, "order.delivered", shipped.Add(s.between(20*time.Hour, 5*24*time.Hour)), map[string]any{"order_id": strconv.FormatInt(id, 10)})
		}
	}
}

// invoice bills a subscriber through Stripe; some payments fail and are
// recovered by retries.
func (s *story) invoice(p person) {
	inv := s.id("in_Demo")
	at := s.at(3 * 24 * time.Hour)
	event := func(typ, canonical string, at time.Time, attempt int, paid bool) {
		status := "open"
		if paid {
			status = "paid"
		}
		f := fact("stripe", canonical, p, at)
		f[0].Ref = inv
		s.add(Request{At: at, Channel: "stripe", What: canonical, Facts: f, Body: mustJSON(map[string]any{
			"id": s.id("evt_Demo"), "object": "event", "api_version": "2024-06-20", "created": at.Unix(), "type": typ, "livemode": false,
			"data": map[string]any{"object": map[string]any{
				"id": inv, "object": "invoice", "customer": p.stripe, "customer_email": p.email, "customer_phone": p.phone,
				"amount_due": 4900, "amount_paid": map[bool]int{true: 4900}[paid], "currency": "usd", "attempt_count": attempt,
				"billing_reason": "subscription_cycle", "status": status, "subscription": "sub_" + p.stripe,
			}},
		})})
	}
	if !s.chance(0.12) {
		event("invoice.paid", "payment.succeeded", at, 1, true)
		return
	}
	event("invoice.payment_failed", "payment.failed", at, 1, false)
	// A retry within 24 hours fails too for some: payment.failed_twice.
	retry := at.Add(s.between(6*time.Hour, 30*time.Hour))
	if s.chance(0.6) {
		event("invoice.payment_failed", "payment.failed", retry, 2, false)
		retry = retry.Add(s.between(time.Hour, 3*24*time.Hour))
	}
	if s.chance(0.8) {
		event("invoice.paid", "payment.succeeded", retry, 3, true)
	}
}

// ticket opens a Zendesk ticket; an agent answers (late for some: the
// first-response SLA) and solves it.
func (s *story) ticket(p person, at time.Time) {
	id := strconv.Itoa(10000 + s.seq)
	s.seq++
	event := func(typ, canonical string, at time.Time, ev map[string]any, status string) {
		f := fact("zendesk", canonical, p, at)
		f[0].Contact, f[0].Ref = canonical == "ticket.created", id
		s.add(Request{At: at, Channel: "zendesk", What: canonical, Facts: f, Header: map[string]string{"X-Zendesk-Webhook-Invocation-Id": s.id("inv-")},
			Body: mustJSON(map[string]any{
				"account_id": 22129848, "id": s.id("zen-"), "subject": "zen:ticket:" + id, "time": at.Format(time.RFC3339Nano),
				"type": "zen:event-type:" + typ, "zendesk_event_version": "2022-11-06", "event": ev,
				"detail": map[string]any{"id": id, "requester_id": strconv.FormatInt(p.zendesk, 10), "status": status, "priority": "NORMAL",
					"type": "QUESTION", "via": map[string]any{"channel": []string{"web", "email", "web"}[s.rng.IntN(3)]},
					"created_at": at.Format(time.RFC3339), "updated_at": at.Format(time.RFC3339)},
			})})
	}
	event("ticket.created", "ticket.created", at, map[string]any{}, "NEW")
	reply := at.Add(s.between(20*time.Minute, 3*time.Hour))
	if s.chance(0.15) {
		reply = at.Add(s.between(5*time.Hour, 20*time.Hour))
	}
	event("ticket.comment_added", "ticket.replied", reply, map[string]any{"comment": map[string]any{
		"id": s.seq, "body": "Thanks for reaching out, looking into it.", "is_public": true,
		"author": map[string]any{"id": 8447388090494, "is_staff": true, "name": "Agent"}}}, "OPEN")
	if s.chance(0.85) {
		event("ticket.status_changed", "ticket.solved", reply.Add(s.between(time.Hour, 3*24*time.Hour)),
			map[string]any{"current": "SOLVED", "previous": "OPEN"}, "SOLVED")
	}
}

// chat opens an Intercom conversation, closes it and, for some, collects
// a rating (CSAT).
func (s *story) chat(p person, at time.Time) {
	conv := strconv.Itoa(1900000000 + s.seq)
	s.seq++
	contact := map[string]any{"type": "contact.list", "contacts": []any{map[string]any{"type": "contact", "id": p.intercom, "external_id": p.id}}}
	note := func(topic string, f Fact, item map[string]any) {
		at := f.At
		item["type"], item["id"], item["created_at"], item["contacts"] = "conversation", conv, at.Unix(), contact
		item["source"] = map[string]any{"type": "conversation", "id": "4039" + conv, "delivered_as": "customer_initiated",
			"author": map[string]any{"type": "user", "id": p.intercom, "email": p.email}}
		s.add(Request{At: at, Channel: "intercom", What: f.Type, Facts: []Fact{f}, Body: mustJSON(map[string]any{
			"type": "notification_event", "app_id": "ocxdemo", "id": s.id("notif_"), "topic": topic, "created_at": at.Unix(),
			"data": map[string]any{"type": "notification_event_data", "item": item},
		})})
	}
	note("conversation.user.created", Fact{At: at, Channel: "intercom", Type: "conversation.opened", Person: p.n, Contact: true}, map[string]any{"state": "open"})
	closed := at.Add(s.between(5*time.Minute, 4*time.Hour))
	note("conversation.admin.closed", Fact{At: closed, Channel: "intercom", Type: "conversation.closed", Person: p.n}, map[string]any{"state": "closed",
		"conversation_parts": map[string]any{"type": "conversation_part.list", "conversation_parts": []any{map[string]any{
			"id": s.id(""), "part_type": "close", "created_at": closed.Unix(), "author": map[string]any{"type": "admin", "id": "814860"}}}}})
	if s.chance(0.5) {
		rated := closed.Add(s.between(time.Minute, time.Hour))
		score := []int{1, 2, 3, 4, 4, 5, 5, 5}[s.rng.IntN(8)]
		note("conversation.rating.added", Fact{At: rated, Channel: "intercom", Type: "survey.responded", Person: p.n, Survey: "csat", Score: score},
			map[string]any{"state": "closed",
				"conversation_rating": map[string]any{"rating": score, "remark": "", "created_at": rated.Unix(),
					"contact": map[string]any{"type": "contact", "id": p.intercom}}})
	}
}

func (s *story) twilio(at time.Time, f Fact, v url.Values) {
	v.Set("AccountSid", "AC"+strings.Repeat("0", 32))
	v.Set("ApiVersion", "2010-04-01")
	s.add(Request{At: at, Channel: "twilio", What: f.Type, ContentType: "application/x-www-form-urlencoded", Body: []byte(v.Encode()), Facts: []Fact{f}})
}

// sms is an inbound text and, for some, an outbound reply that is not
// delivered. Twilio's message callbacks carry no time: the stack stamps
// them when they arrive, whatever at says about their place in the story.
func (s *story) sms(p person, at time.Time) {
	sid := fmt.Sprintf("SM%032x", s.seq)
	s.seq++
	s.twilio(at, Fact{Channel: "twilio", Type: "message.received", Person: p.n, Contact: true},
		url.Values{"MessageSid": {sid}, "SmsSid": {sid}, "SmsStatus": {"received"},
			"From": {p.phone}, "To": {"+15558675310"}, "Body": {"Where is my order?"}, "NumMedia": {"0"}})
	out := fmt.Sprintf("SM%032x", s.seq)
	s.seq++
	status := "delivered"
	if s.chance(0.1) || s.texts == 0 {
		status = "undelivered"
	}
	s.texts++
	s.twilio(at.Add(time.Minute), Fact{Channel: "twilio", Type: "message." + status, Person: p.n},
		url.Values{"MessageSid": {out}, "SmsSid": {out}, "MessageStatus": {status},
			"SmsStatus": {status}, "From": {"+15558675310"}, "To": {p.phone}, "ErrorCode": {map[string]string{"undelivered": "30003"}[status]}})
}

// call is an inbound call the customer made.
func (s *story) call(p person) {
	sid := fmt.Sprintf("CA%032x", s.seq)
	s.seq++
	at := s.now.Add(-time.Minute).Truncate(time.Second)
	s.twilio(at, Fact{At: at, Channel: "twilio", Type: "call.completed", Person: p.n, Contact: true},
		url.Values{"CallSid": {sid}, "CallStatus": {"completed"}, "Direction": {"inbound"},
			"From": {p.phone}, "To": {"+15558675310"}, "Caller": {p.phone}, "Called": {"+15558675310"}, "CallDuration": {"240"},
			"Timestamp": {at.Format(time.RFC1123Z)}})
}

// email sends SendGrid event batches: every message processed and
// delivered, or bounced (more than 5 %, which the bounce-rate rule sees).
func (s *story) email(customers int) {
	for day := s.from.Truncate(24 * time.Hour).Add(9 * time.Hour); day.Before(s.now); day = day.Add(24 * time.Hour) {
		var batch []any
		var facts []Fact
		for range max(customers/20, 10) {
			p := s.person(s.rng.IntN(customers))
			at := day.Add(s.between(0, 8*time.Hour)).Truncate(time.Second)
			msg := s.id("msg.filter0001.")
			item := func(event, typ string, at time.Time, extra map[string]any) {
				it := map[string]any{"email": p.email, "timestamp": at.Unix(), "event": event, "sg_event_id": s.id("sgev"),
					"sg_message_id": msg, "smtp-id": "<" + msg + "@ocx.example>", "category": "notifications"}
				for k, v := range extra {
					it[k] = v
				}
				batch = append(batch, it)
				facts = append(facts, Fact{At: at, Channel: "sendgrid", Type: typ, Person: p.n})
			}
			item("processed", "email.sent", at, nil)
			if s.chance(0.07) {
				item("bounce", "email.bounced", at.Add(time.Minute), map[string]any{"type": "bounce", "reason": "550 5.1.1 mailbox does not exist", "status": "5.1.1"})
			} else {
				item("delivered", "email.delivered", at.Add(time.Minute), map[string]any{"response": "250 OK"})
			}
		}
		// SendGrid posts in batches; a batch's items may span the day.
		s.sendgrid(day.Add(8*time.Hour), batch, facts)
	}
	// At the very end, a campaign to a stale list: 60 mails in three
	// minutes, every tenth bouncing. The bounce-rate rule looks at the
	// last 15 minutes of its own clock, so only a recent campaign trips it.
	start := s.now.Add(-5 * time.Minute).Truncate(time.Second)
	var batch []any
	var facts []Fact
	for i := range 60 {
		p := s.person(s.rng.IntN(customers))
		at := start.Add(time.Duration(i) * 3 * time.Second)
		msg := s.id("msg.campaign.")
		event, typ, extra := "delivered", "email.delivered", map[string]any{"response": "250 OK"}
		if i%10 == 9 {
			event, typ, extra = "bounce", "email.bounced", map[string]any{"type": "bounce", "reason": "550 5.1.1 mailbox does not exist", "status": "5.1.1"}
		}
		for _, it := range []struct {
			event, typ string
			at         time.Time
			extra      map[string]any
		}{{"processed", "email.sent", at, nil}, {event, typ, at.Add(10 * time.Second), extra}} {
			item := map[string]any{"email": p.email, "timestamp": it.at.Unix(), "event": it.event, "sg_event_id": s.id("sgev"),
				"sg_message_id": msg, "smtp-id": "<" + msg + "@ocx.example>", "category": "campaign"}
			for k, v := range it.extra {
				item[k] = v
			}
			batch = append(batch, item)
			facts = append(facts, Fact{At: it.at, Channel: "sendgrid", Type: it.typ, Person: p.n})
		}
	}
	s.sendgrid(start.Add(3*time.Minute), batch, facts)
}

// sendgrid posts events in SendGrid's batches of at most 50.
func (s *story) sendgrid(at time.Time, batch []any, facts []Fact) {
	for len(batch) > 0 {
		n := min(len(batch), 50)
		s.add(Request{At: at, Channel: "sendgrid", What: "email.*", Body: mustJSON(batch[:n]), Facts: facts[:n:n]})
		batch, facts = batch[n:], facts[n:]
	}
}

// survey answers an NPS survey in the app or by Delighted, or an NPS,
// CSAT or CES question on Typeform. Scores lean as real ones do: most
// promote, a quarter detract.
func (s *story) survey(p person) {
	at := s.at(0)
	// The first answer of a story is a hard-to-handle CES, so every story
	// shows the high-effort rule however small it is.
	first := s.surveys == 0
	s.surveys++
	r := s.rng.Float64()
	if first {
		r = 1
	}
	switch {
	case r < 0.2:
		s.appEvent(p, "survey.responded", at, map[string]any{"survey": "nps", "score": s.npsScore(), "prompt": "in-app"})
		return
	case r < 0.4:
		score := s.npsScore()
		s.add(Request{At: at, Channel: "delighted", What: "survey.responded",
			Facts: []Fact{{At: at, Channel: "delighted", Type: "survey.responded", Person: p.n, Survey: "nps", Score: score}},
			Body: mustJSON(map[string]any{
				"event_type": "survey_response.created", "event_id": s.id("dlg"),
				"event_data": map[string]any{"id": s.id(""), "survey_type": "nps", "score": score, "created_at": at.Unix(), "updated_at": at.Unix(),
					"person": map[string]any{"id": strconv.Itoa(60000 + p.n), "email": p.email}},
			})})
		return
	}
	ref, score := "nps", s.npsScore()
	switch r := s.rng.Float64(); {
	case first:
		ref, score = "ces", 2
	case r < 0.3:
		ref, score = "csat", []int{1, 2, 3, 4, 4, 5, 5, 5, 5}[s.rng.IntN(9)]
	case r < 0.6:
		ref, score = "ces", []int{1, 2, 3, 4, 5, 5, 6, 6, 7, 7}[s.rng.IntN(10)]
	}
	token := s.id("tok")
	s.add(Request{At: at, Channel: "typeform", What: "survey.responded",
		Facts: []Fact{{At: at, Channel: "typeform", Type: "survey.responded", Person: p.n, Survey: ref, Score: score}},
		Body: mustJSON(map[string]any{
			"event_id": s.id("01DEMO"), "event_type": "form_response",
			"form_response": map[string]any{
				"form_id": "ocxdemo", "token": token, "landed_at": at.Add(-time.Minute).Format(time.RFC3339), "submitted_at": at.Format(time.RFC3339),
				"hidden": map[string]any{"email": p.email, "customer_id": p.id},
				"definition": map[string]any{"id": "ocxdemo", "title": "How are we doing?", "fields": []any{
					map[string]any{"id": "f_" + ref, "title": "Your score", "type": "opinion_scale", "ref": ref}}},
				"answers": []any{map[string]any{"type": "number", "number": score, "field": map[string]any{"id": "f_" + ref, "type": "opinion_scale", "ref": ref}}},
			},
		})})
}

func (s *story) npsScore() int {
	switch r := s.rng.Float64(); {
	case r < 0.5:
		return 9 + s.rng.IntN(2)
	case r < 0.75:
		return 7 + s.rng.IntN(2)
	default:
		return s.rng.IntN(7)
	}
}
