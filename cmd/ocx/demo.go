package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/secrets"
)

// runDemo sends a month of traffic from many customers on every channel
// through the webhook endpoints of a running stack, each request signed
// the way its provider signs, with every shipped rule's failure in it.
func runDemo(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	base := fs.String("url", "http://"+localstack.DefaultHTTPAddr, "base URL of the running stack (make run)")
	customers := fs.Int("customers", 2000, "customers in the story")
	days := fs.Int("days", 30, "days of history, ending now")
	seed := fs.Uint64("seed", 1, "random seed: the same seed sends the same story")
	workers := fs.Int("workers", 4, "requests in flight")
	_ = fs.Parse(args)

	chans, err := demoChannels()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	reqs := newStory(*seed, now, *days).tell(*customers)
	if err := checkReachable(ctx, *base); err != nil {
		return err
	}
	fmt.Fprintf(out, "sending %d webhooks from %d customers over %d days to %s\n", len(reqs), *customers, *days, *base)

	bar := newProgress(os.Stderr)
	var sent, events, dup, failed atomic.Int64
	var firstErr atomic.Value
	queue := make(chan demoRequest)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for range max(*workers, 1) {
		wg.Go(func() {
			for r := range queue {
				acc, err := deliver(ctx, client, *base, chans[r.channel], r)
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				case acc.Duplicate:
					dup.Add(1)
				default:
					events.Add(int64(len(acc.EventIDs)))
				}
				bar.set("webhooks", sent.Add(1), int64(len(reqs)))
			}
		})
	}
	start := time.Now()
	for _, r := range reqs {
		select {
		case queue <- r:
		case <-ctx.Done():
		}
	}
	close(queue)
	wg.Wait()
	bar.done()
	took := time.Since(start)
	fmt.Fprintf(out, "sent %d webhooks in %s (%.0f/s): %d events accepted, %d redeliveries, %d failed\n",
		sent.Load(), took.Round(time.Second), float64(sent.Load())/took.Seconds(), events.Load(), dup.Load(), failed.Load())
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(out, "first failure: %s\n", e)
	}
	from := now.AddDate(0, 0, -*days).Format(time.DateOnly)
	fmt.Fprintf(out, `
The stack is still working through the events (journeys, rules, Slack and
email on its console); figures appear after the next rollup. Then try:

  curl -s -H 'Authorization: Bearer %[1]s' '%[2]s/v1/metrics'
  curl -s -H 'Authorization: Bearer %[1]s' '%[2]s/v1/metrics/nps?from=%[3]s&granularity=week&group_by=channel'
  curl -s -H 'Authorization: Bearer %[1]s' -H 'Accept: text/csv' '%[2]s/v1/metrics/repeat_contact_rate?from=%[3]s&tz=Europe/Paris'
  curl -s -H 'Authorization: Bearer %[1]s' '%[2]s/v1/metrics/time_in_stage?from=%[3]s&granularity=month&group_by=journey,stage'
  curl -s -H 'Authorization: Bearer %[1]s' '%[2]s/v1/failures'
`, envOr("OCX_API_TOKEN", localstack.DefaultAPIToken), strings.TrimRight(*base, "/"), from)
	if failed.Load() > 0 {
		return fmt.Errorf("%d webhooks failed", failed.Load())
	}
	return nil
}

func checkReachable(ctx context.Context, base string) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(base, "/")+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no stack at %s (start it with make run): %w", base, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/healthz answered %s", base, resp.Status)
	}
	return nil
}

// demoChannel is a configured channel with the secret that signs for it.
type demoChannel struct {
	channel.Channel
	secret string
}

func demoChannels() (map[string]demoChannel, error) {
	var fsys fs.FS = config.Shipped
	if dir := os.Getenv("OCX_CONFIG_DIR"); dir != "" {
		fsys = os.DirFS(dir)
	}
	list, err := channel.Load(fsys, "channels.yaml")
	if err != nil {
		return nil, err
	}
	out := map[string]demoChannel{}
	for _, c := range list {
		sign, verify, ok := localstack.DemoSecrets(c)
		if !ok {
			continue
		}
		// A shared-secret channel may run on its own secret (OCX_SECRET_<ID>).
		if env := secrets.Split(os.Getenv(channel.SecretEnv(c.ID))); len(env) > 0 && sign == verify {
			sign = env[0]
		}
		out[c.ID] = demoChannel{Channel: c, secret: sign}
	}
	for _, id := range []string{"app", "stripe", "shopify", "zendesk", "intercom", "twilio", "sendgrid", "typeform", "delighted"} {
		if _, ok := out[id]; !ok {
			return nil, fmt.Errorf("the demo needs channel %q (channels.yaml) with a signing kind", id)
		}
	}
	return out, nil
}

// deliver signs and posts one request, retrying what the stack asks to
// be retried.
func deliver(ctx context.Context, client *http.Client, base string, ch demoChannel, r demoRequest) (ingest.Accepted, error) {
	var acc ingest.Accepted
	signer, ok := ch.Kind.(channel.Signer)
	if !ok {
		return acc, fmt.Errorf("channel %s cannot sign", ch.ID)
	}
	for attempt := 0; ; attempt++ {
		req := channel.Request{Header: http.Header{"Content-Type": {r.contentType}}, Body: r.body, URL: strings.TrimRight(base, "/") + "/v1/webhooks/" + ch.ID}
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		if err := signer.Sign(&req, ch.secret, time.Now()); err != nil {
			return acc, fmt.Errorf("sign %s: %w", ch.ID, err)
		}
		hr, err := http.NewRequestWithContext(ctx, "POST", req.URL, strings.NewReader(string(r.body)))
		if err != nil {
			return acc, err
		}
		hr.Header = req.Header
		resp, err := client.Do(hr)
		if err != nil {
			return acc, fmt.Errorf("%s: %w", ch.ID, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && attempt < 5 {
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
			continue
		}
		if resp.StatusCode >= 300 {
			return acc, fmt.Errorf("%s %s answered %s: %s", ch.ID, r.what, resp.Status, strings.TrimSpace(string(body)))
		}
		_ = json.Unmarshal(body, &acc)
		if acc.Quarantined > 0 {
			return acc, fmt.Errorf("%s %s: %d item(s) quarantined: %s", ch.ID, r.what, acc.Quarantined, strings.TrimSpace(string(body)))
		}
		return acc, nil
	}
}

// demoRequest is one provider webhook.
type demoRequest struct {
	at          time.Time
	channel     string
	what        string // the canonical types it should become, for messages and tests
	contentType string
	header      map[string]string
	body        []byte
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

type story struct {
	rng  *rand.Rand
	now  time.Time
	from time.Time
	reqs []demoRequest
	seq  int
}

func newStory(seed uint64, now time.Time, days int) *story {
	return &story{rng: rand.New(rand.NewPCG(seed, 7)), now: now, from: now.AddDate(0, 0, -days)}
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
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)))
}

func (s *story) id(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%08d", prefix, s.seq)
}

// add keeps a request unless it would lie in the future.
func (s *story) add(r demoRequest) {
	if r.at.After(s.now) {
		return
	}
	if r.contentType == "" {
		r.contentType = "application/json"
	}
	s.reqs = append(s.reqs, r)
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
func (s *story) tell(customers int) []demoRequest {
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
	sort.SliceStable(s.reqs, func(i, j int) bool { return s.reqs[i].at.Before(s.reqs[j].at) })
	return s.reqs
}

// app sends an in-house app event (Standard Webhooks).
func (s *story) app(p person) {
	send := func(typ string, at time.Time, attrs map[string]any) {
		if attrs == nil {
			attrs = map[string]any{}
		}
		attrs["plan"], attrs["region"] = p.plan, p.region
		s.add(demoRequest{at: at, channel: "app", what: typ, header: map[string]string{"webhook-id": s.id("msg_")},
			body: mustJSON(map[string]any{
				"type": typ, "occurred_at": at.Format(time.RFC3339),
				"customer":   map[string]any{"id": p.id, "email": p.email, "phone": p.phone},
				"attributes": attrs,
			})})
	}
	if !s.chance(0.3) {
		send("session.started", s.at(0), nil)
		return
	}
	// Onboarding: signed up this month.
	t := s.at(2 * time.Hour)
	send("account.created", t, nil)
	if !s.chance(0.8) {
		if s.chance(0.2) {
			send("account.closed", t.Add(s.between(2*time.Hour, 5*24*time.Hour)), nil)
		}
		return // left in signed-up: stalls after its 3-day SLA
	}
	t = t.Add(s.between(10*time.Minute, 2*24*time.Hour))
	send("account.verified", t, nil)
	if s.chance(0.85) {
		send("account.activated", t.Add(s.between(time.Hour, 5*24*time.Hour)), nil)
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
		s.add(demoRequest{at: at, channel: "shopify", what: typ, body: mustJSON(body), header: map[string]string{
			"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": s.id("wh-"), "X-Shopify-Event-Id": s.id("ev-"),
			"X-Shopify-Shop-Domain": "ocx-demo.myshopify.com", "X-Shopify-Triggered-At": at.Format(time.RFC3339),
		}})
	}
	order("orders/create", "order.created", created, nil)
	switch r := s.rng.Float64(); {
	case r < 0.06:
		order("orders/cancelled", "order.cancelled", created.Add(s.between(time.Hour, 24*time.Hour)),
			map[string]any{"cancel_reason": "customer", "cancelled_at": created.Add(2 * time.Hour).Format(time.RFC3339)})
	case r < 0.12:
		// Never fulfilled: order.unfulfilled fires.
	default:
		shipped := created.Add(s.between(2*time.Hour, 40*time.Hour))
		order("orders/fulfilled", "order.fulfilled", shipped, map[string]any{"fulfillment_status": "fulfilled",
			"fulfillments": []any{map[string]any{"id": id + 1, "status": "success", "created_at": shipped.Format(time.RFC3339), "tracking_company": "UPS"}}})
		if s.chance(0.9) {
			at := shipped.Add(s.between(20*time.Hour, 5*24*time.Hour))
			s.add(demoRequest{at: at, channel: "app", what: "order.delivered", header: map[string]string{"webhook-id": s.id("msg_")},
				body: mustJSON(map[string]any{"type": "order.delivered", "occurred_at": at.Format(time.RFC3339),
					"customer":   map[string]any{"id": p.id, "email": p.email},
					"attributes": map[string]any{"order_id": strconv.FormatInt(id, 10), "plan": p.plan, "region": p.region}})})
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
		s.add(demoRequest{at: at, channel: "stripe", what: canonical, body: mustJSON(map[string]any{
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
		s.add(demoRequest{at: at, channel: "zendesk", what: canonical, header: map[string]string{"X-Zendesk-Webhook-Invocation-Id": s.id("inv-")},
			body: mustJSON(map[string]any{
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
	note := func(topic, canonical string, at time.Time, item map[string]any) {
		item["type"], item["id"], item["created_at"], item["contacts"] = "conversation", conv, at.Unix(), contact
		item["source"] = map[string]any{"type": "conversation", "id": "4039" + conv, "delivered_as": "customer_initiated",
			"author": map[string]any{"type": "user", "id": p.intercom, "email": p.email}}
		s.add(demoRequest{at: at, channel: "intercom", what: canonical, body: mustJSON(map[string]any{
			"type": "notification_event", "app_id": "ocxdemo", "id": s.id("notif_"), "topic": topic, "created_at": at.Unix(),
			"data": map[string]any{"type": "notification_event_data", "item": item},
		})})
	}
	note("conversation.user.created", "conversation.opened", at, map[string]any{"state": "open"})
	closed := at.Add(s.between(5*time.Minute, 4*time.Hour))
	note("conversation.admin.closed", "conversation.closed", closed, map[string]any{"state": "closed",
		"conversation_parts": map[string]any{"type": "conversation_part.list", "conversation_parts": []any{map[string]any{
			"id": s.id(""), "part_type": "close", "created_at": closed.Unix(), "author": map[string]any{"type": "admin", "id": "814860"}}}}})
	if s.chance(0.5) {
		rated := closed.Add(s.between(time.Minute, time.Hour))
		score := []int{1, 2, 3, 4, 4, 5, 5, 5}[s.rng.IntN(8)]
		note("conversation.rating.added", "survey.responded", rated, map[string]any{"state": "closed",
			"conversation_rating": map[string]any{"rating": score, "remark": "", "created_at": rated.Unix(),
				"contact": map[string]any{"type": "contact", "id": p.intercom}}})
	}
}

func (s *story) twilio(at time.Time, what string, v url.Values) {
	v.Set("AccountSid", "AC"+strings.Repeat("0", 32))
	v.Set("ApiVersion", "2010-04-01")
	s.add(demoRequest{at: at, channel: "twilio", what: what, contentType: "application/x-www-form-urlencoded", body: []byte(v.Encode())})
}

// sms is an inbound text and, for some, an outbound reply that is not
// delivered.
func (s *story) sms(p person, at time.Time) {
	sid := fmt.Sprintf("SM%032x", s.seq)
	s.seq++
	s.twilio(at, "message.received", url.Values{"MessageSid": {sid}, "SmsSid": {sid}, "SmsStatus": {"received"},
		"From": {p.phone}, "To": {"+15558675310"}, "Body": {"Where is my order?"}, "NumMedia": {"0"}})
	out := fmt.Sprintf("SM%032x", s.seq)
	s.seq++
	status := "delivered"
	if s.chance(0.1) {
		status = "undelivered"
	}
	s.twilio(at.Add(time.Minute), "message."+status, url.Values{"MessageSid": {out}, "SmsSid": {out}, "MessageStatus": {status},
		"SmsStatus": {status}, "From": {"+15558675310"}, "To": {p.phone}, "ErrorCode": {map[string]string{"undelivered": "30003"}[status]}})
}

// call is an inbound call the customer made.
func (s *story) call(p person) {
	sid := fmt.Sprintf("CA%032x", s.seq)
	s.seq++
	at := s.now.Add(-time.Minute)
	s.twilio(at, "call.completed", url.Values{"CallSid": {sid}, "CallStatus": {"completed"}, "Direction": {"inbound"},
		"From": {p.phone}, "To": {"+15558675310"}, "Caller": {p.phone}, "Called": {"+15558675310"}, "CallDuration": {"240"},
		"Timestamp": {at.Format(time.RFC1123Z)}})
}

// email sends SendGrid event batches: every message processed and
// delivered, or bounced (more than 5 %, which the bounce-rate rule sees).
func (s *story) email(customers int) {
	for day := s.from.Truncate(24 * time.Hour).Add(9 * time.Hour); day.Before(s.now); day = day.Add(24 * time.Hour) {
		var batch []any
		for range max(customers/20, 10) {
			p := s.person(s.rng.IntN(customers))
			at := day.Add(s.between(0, 8*time.Hour))
			msg := s.id("msg.filter0001.")
			item := func(event string, at time.Time, extra map[string]any) {
				it := map[string]any{"email": p.email, "timestamp": at.Unix(), "event": event, "sg_event_id": s.id("sgev"),
					"sg_message_id": msg, "smtp-id": "<" + msg + "@ocx.example>", "category": "notifications"}
				for k, v := range extra {
					it[k] = v
				}
				batch = append(batch, it)
			}
			item("processed", at, nil)
			if s.chance(0.07) {
				item("bounce", at.Add(time.Minute), map[string]any{"type": "bounce", "reason": "550 5.1.1 mailbox does not exist", "status": "5.1.1"})
			} else {
				item("delivered", at.Add(time.Minute), map[string]any{"response": "250 OK"})
			}
		}
		// SendGrid posts in batches; a batch's items may span the day.
		for len(batch) > 0 {
			n := min(len(batch), 50)
			s.add(demoRequest{at: day.Add(8 * time.Hour), channel: "sendgrid", what: "email.*", body: mustJSON(batch[:n])})
			batch = batch[n:]
		}
	}
}

// survey answers an NPS, CSAT or CES question (Typeform) or an NPS
// survey (Delighted). Scores lean as real ones do: most promote, a
// quarter detract.
func (s *story) survey(p person) {
	at := s.at(0)
	if s.chance(0.25) {
		s.add(demoRequest{at: at, channel: "delighted", what: "survey.responded", body: mustJSON(map[string]any{
			"event_type": "survey_response.created", "event_id": s.id("dlg"),
			"event_data": map[string]any{"id": s.id(""), "survey_type": "nps", "score": s.npsScore(), "created_at": at.Unix(), "updated_at": at.Unix(),
				"person": map[string]any{"id": strconv.Itoa(60000 + p.n), "email": p.email}},
		})})
		return
	}
	ref, score := "nps", s.npsScore()
	switch r := s.rng.Float64(); {
	case r < 0.2:
		ref, score = "csat", []int{1, 2, 3, 4, 4, 5, 5, 5, 5}[s.rng.IntN(9)]
	case r < 0.4:
		ref, score = "ces", []int{1, 2, 3, 4, 5, 5, 6, 6, 7, 7}[s.rng.IntN(10)]
	}
	token := s.id("tok")
	s.add(demoRequest{at: at, channel: "typeform", what: "survey.responded", body: mustJSON(map[string]any{
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
