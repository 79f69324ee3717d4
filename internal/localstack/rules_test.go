package localstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/team"
)

// failures lists every failure through the analysts' API.
func failures(t *testing.T, st *localstack.Stack) []events.Failure {
	t.Helper()
	req, _ := http.NewRequest("GET", st.URL+"/v1/failures?limit=500", nil)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page failure.Page
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&page) != nil {
		t.Fatalf("GET /v1/failures: %d", resp.StatusCode)
	}
	out := make([]events.Failure, 0, len(page.Failures))
	for _, f := range page.Failures {
		out = append(out, f.Failure)
	}
	return out
}

// summary is "rule key state" per failure, sorted, for comparing sets.
func summary(fs []events.Failure) string {
	var lines []string
	for _, f := range fs {
		lines = append(lines, f.RuleID+" "+f.Key+" "+f.State)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

var shippedChannels = sync.OnceValues(func() (map[string]channel.Channel, error) {
	chans, err := channel.Load(config.Shipped, "channels.yaml")
	byID := map[string]channel.Channel{}
	for _, c := range chans {
		byID[c.ID] = c
	}
	return byID, err
})

// deliver posts body to a shipped channel signed the way its provider
// signs, at signedAt (the stack's clock), and expects it accepted.
func deliver(t *testing.T, st *localstack.Stack, chID string, body []byte, header map[string]string, signedAt time.Time) {
	t.Helper()
	chans, err := shippedChannels()
	if err != nil {
		t.Fatal(err)
	}
	ch, ok := chans[chID]
	if !ok {
		t.Fatalf("channel %s is not in channels.yaml", chID)
	}
	ct := "application/json"
	if ch.Config.Kind == "twilio" {
		ct = "application/x-www-form-urlencoded"
	}
	req := channel.Request{Header: http.Header{"Content-Type": {ct}}, Body: body, URL: st.URL + "/v1/webhooks/" + chID}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if err := ch.Kind.(channel.Signer).Sign(&req, st.ChannelSecrets[chID].Sign, signedAt); err != nil {
		t.Fatal(err)
	}
	hr, _ := http.NewRequest("POST", req.URL, bytes.NewReader(body))
	hr.Header = req.Header
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s webhook: %d %s", chID, resp.StatusCode, b)
	}
}

// example is a provider's documented example from a channel's testdata,
// decoded for editing (numbers kept as written).
func example(t *testing.T, rel string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "channel", rel))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return doc
}

// edit sets dotted paths (array elements by index) of doc and encodes it.
func edit(t *testing.T, doc map[string]any, kv ...any) []byte {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		segs := strings.Split(kv[i].(string), ".")
		var cur any = doc
		for j, s := range segs {
			last := j == len(segs)-1
			switch c := cur.(type) {
			case map[string]any:
				if last {
					c[s] = kv[i+1]
				} else {
					cur = c[s]
				}
			case []any:
				n, err := strconv.Atoi(s)
				if err != nil || n >= len(c) {
					t.Fatalf("path %s: no element %s", kv[i], s)
				}
				if last {
					c[n] = kv[i+1]
				} else {
					cur = c[n]
				}
			default:
				t.Fatalf("path %s: %s is not an object or array", kv[i], s)
			}
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// form is a Twilio example with fields replaced.
func form(t *testing.T, rel string, kv ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "channel", rel))
	if err != nil {
		t.Fatal(err)
	}
	v, err := url.ParseQuery(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return []byte(v.Encode())
}

// shippedRules is the shipped rule pack, as the rules function loads it.
func shippedRules(t *testing.T) map[string]rules.Rule {
	t.Helper()
	teams, err := team.Load(config.Shipped, "teams.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tm := range teams.All() {
		ids = append(ids, tm.ID)
	}
	rs, err := rules.Load(config.Shipped, "rules", ids)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]rules.Rule{}
	for _, r := range rs {
		out[r.ID] = r
	}
	return out
}

// Scripted customers raise exactly the failures the shipped rules promise,
// each through real signed webhooks of the channel the rule is about, and
// a clean journey raises none. Per-customer rules count one person across
// channels once an order linked their email and phone. Deadlines (promised
// fulfilment and delivery, first response, a journey stage's SLA) fire
// from the schedule within a minute of being due, once, across a restart
// of the stack; the bounce-rate spike and the unfulfilled order resolve
// themselves when their condition clears.
func TestShippedRulesEndToEnd(t *testing.T) {
	pack := shippedRules(t)
	var offset atomic.Int64
	clock := func(c *localstack.Config) {
		c.Now = func() time.Time { return testNow().Add(time.Duration(offset.Load())) }
	}
	stateDir := t.TempDir()
	st := startWith(t, stateDir, "", clock)
	running := st
	defer func() { running.Stop() }()
	stackNow := func() time.Time { return testNow().Add(time.Duration(offset.Load())) }
	t0 := testNow().UTC().Truncate(time.Second)
	rfc := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	unix := func(d time.Duration) json.Number { return json.Number(strconv.FormatInt(t0.Add(d).Unix(), 10)) }
	customerOf := func(key string) string {
		t.Helper()
		var v customer.View
		eventually(t, "the customer of "+key, 15*time.Second, func() bool { return lookup(t, st, key, &v) == 200 })
		return v.ID
	}
	// linked waits until the journey function has linked both keys to one
	// customer, so that later events resolve to it.
	linked := func(a, b string) {
		t.Helper()
		eventually(t, a+" linked to "+b, 15*time.Second, func() bool {
			var x, y customer.View
			return lookup(t, st, a, &x) == 200 && lookup(t, st, b, &y) == 200 && x.ID == y.ID
		})
	}
	shopifyOrder := func(id, email, phone, customerID string, at time.Duration) {
		t.Helper()
		body := fmt.Sprintf(`{"id":%s,"name":"#%s","order_number":%s,"email":%q,"phone":%q,"created_at":%q,"total_price":"42.00",`+
			`"currency":"EUR","financial_status":"paid","customer":{"id":%s,"email":%q,"phone":%q}}`,
			id, id, id, email, phone, rfc(at), customerID, email, phone)
		deliver(t, st, "shopify", []byte(body), map[string]string{"X-Shopify-Topic": "orders/create",
			"X-Shopify-Webhook-Id": "order-" + id, "X-Shopify-Shop-Domain": "example.myshopify.com"}, stackNow())
	}
	intercomChat := func(who, email string, at time.Duration) {
		t.Helper()
		body := edit(t, example(t, "intercom/testdata/conversation.user.created.json"),
			"id", "notif_"+who, "created_at", unix(at), "data.item.id", "conv-"+who,
			"data.item.created_at", unix(at), "data.item.updated_at", unix(at),
			"data.item.source.author.id", "ic-"+who, "data.item.source.author.email", email,
			"data.item.contacts.contacts.0.id", "ic-"+who)
		deliver(t, st, "intercom", body, nil, stackNow())
	}
	sms := func(sid, from string) {
		t.Helper()
		deliver(t, st, "twilio", form(t, "twilio/testdata/inbound_sms.form", "MessageSid", sid, "SmsSid", sid, "SmsMessageSid", sid, "From", from), nil, stackNow())
	}
	zendeskTicket := func(fixture, ticket, requester string, at time.Duration) {
		t.Helper()
		body := edit(t, example(t, "zendesk/testdata/"+fixture), "id", fixture+"-"+ticket, "time", rfc(at),
			"detail.id", ticket, "detail.requester_id", requester, "detail.submitter_id", requester)
		deliver(t, st, "zendesk", body, map[string]string{"X-Zendesk-Webhook-Invocation-Id": "inv-" + fixture + "-" + ticket}, stackNow())
	}
	delighted := func(who, survey string, score int, at time.Duration) {
		t.Helper()
		body := edit(t, example(t, "delighted/testdata/survey_response_created.json"), "event_id", "dl-"+who,
			"event_data.id", "dl-"+who, "event_data.person.id", "p-"+who, "event_data.person.email", who+"@example.com",
			"event_data.person_properties", map[string]any{}, "event_data.survey_type", survey,
			"event_data.score", score, "event_data.created_at", unix(at), "event_data.updated_at", unix(at))
		deliver(t, st, "delighted", body, nil, stackNow())
	}
	stripeInvoiceFailed := func(n int, at time.Duration) {
		t.Helper()
		body := edit(t, example(t, "stripe/testdata/invoice.payment_failed.json"), "id", fmt.Sprintf("evt_gus_%d", n),
			"created", unix(at), "data.object.id", "in_gus_1", "data.object.customer", "cus_Gus",
			"data.object.customer_email", "gus@example.com", "data.object.attempt_count", n)
		deliver(t, st, "stripe", body, nil, stackNow())
	}
	checkout := func(id, body string) {
		t.Helper()
		deliver(t, st, "checkout", []byte(body), map[string]string{"webhook-id": id}, stackNow())
	}
	order := func(typ, email, id string, at time.Duration, promise string) string {
		return fmt.Sprintf(`{"type":%q,"customer":{"email":%q},"occurred_at":%q,"attributes":{"order_id":%q%s}}`, typ, email, rfc(at), id, promise)
	}

	// Bob orders from Shopify with his email and phone, then chats on
	// Intercom and texts twice: three contacts of one customer on two
	// channels and two keys.
	shopifyOrder("5001", "bob@example.com", "+14155550101", "7001", -40*time.Minute)
	linked("email:bob@example.com", "phone:+14155550101")
	intercomChat("bob", "bob@example.com", -30*time.Minute)
	sms("SMb0000000000000000000000000000001", "+14155550101")
	sms("SMb0000000000000000000000000000002", "+14155550101")
	// Carol orders, chats, and calls from her phone minutes later.
	shopifyOrder("5002", "carol@example.com", "+14155550102", "7002", -35*time.Minute)
	linked("email:carol@example.com", "phone:+14155550102")
	intercomChat("carol", "carol@example.com", -20*time.Minute)
	deliver(t, st, "twilio", form(t, "twilio/testdata/call_completed.form", "CallSid", "CAc0000000000000000000000000000001",
		"Direction", "inbound", "From", "+14155550102", "Caller", "+14155550102",
		"Timestamp", t0.Add(-10*time.Minute).Format(time.RFC1123Z)), nil, stackNow())
	// Dave is a detractor, Erin unsatisfied (both on Delighted); Fay found
	// it hard (a Typeform CES question).
	delighted("dave", "nps", 3, -10*time.Minute)
	delighted("erin", "csat", 2, -9*time.Minute)
	deliver(t, st, "typeform", edit(t, example(t, "typeform/testdata/nps_response.json"), "event_id", "tf-fay",
		"form_response.token", "tf-fay", "form_response.submitted_at", rfc(-8*time.Minute),
		"form_response.hidden", map[string]any{"email": "fay@example.com"},
		"form_response.definition.fields.0.ref", "ces", "form_response.answers.0.field.ref", "ces",
		"form_response.answers.0.number", 2), nil, stackNow())
	// Gus's invoice payment fails twice on Stripe.
	stripeInvoiceFailed(1, -50*time.Minute)
	stripeInvoiceFailed(2, -5*time.Minute)
	// The checkout promises Gina's order within the hour and Hal's
	// delivery within 70 minutes.
	ginaDue, halDue := t0.Add(55*time.Minute), t0.Add(70*time.Minute)
	checkout("msg_gina_1", order("order.created", "gina@example.com", "G-1", -5*time.Minute, fmt.Sprintf(`,"fulfil_by":%q`, rfc(55*time.Minute))))
	checkout("msg_hal_1", "["+order("order.created", "hal@example.com", "H-1", -30*time.Minute, "")+","+
		order("order.fulfilled", "hal@example.com", "H-1", -4*time.Minute, fmt.Sprintf(`,"deliver_by":%q`, rfc(70*time.Minute)))+"]")
	// Ivy's Zendesk ticket waits for an answer.
	ivyDue := t0.Add(-2*time.Minute + 4*time.Hour)
	zendeskTicket("ticket.created.json", "8001", "9001", -2*time.Minute)
	// SendGrid: 50 sends from the newsletter, 3 of them bounce (6 %); Kim's
	// SMS is not delivered.
	var sg []map[string]any
	for i := range 50 {
		sg = append(sg, map[string]any{"email": fmt.Sprintf("reader%d@example.com", i%10), "timestamp": t0.Add(-3 * time.Minute).Unix(),
			"event": "processed", "sg_event_id": fmt.Sprintf("sent-%d", i), "sg_message_id": fmt.Sprintf("msg-%d.filter0001", i)})
	}
	for _, who := range []string{"jo", "jules", "june"} {
		sg = append(sg, map[string]any{"email": who + "@example.com", "timestamp": t0.Add(-2 * time.Minute).Unix(), "event": "bounce",
			"type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 The email account does not exist.",
			"sg_event_id": "bounce-" + who, "sg_message_id": "msg-" + who + ".filter0001"})
	}
	sgBody, _ := json.Marshal(sg)
	deliver(t, st, "sendgrid", sgBody, nil, stackNow())
	deliver(t, st, "twilio", form(t, "twilio/testdata/status_undelivered.form", "MessageSid", "SMk0000000000000000000000000000001",
		"SmsSid", "SMk0000000000000000000000000000001", "To", "+14155550111"), nil, stackNow())
	// Frank's journey goes well: an order, one ticket answered in time, a
	// promoter's answer.
	shopifyOrder("5003", "frank@example.com", "+14155550103", "7003", -45*time.Minute)
	zendeskTicket("ticket.created.json", "8002", "9002", -30*time.Minute)
	zendeskTicket("ticket.comment_added.json", "8002", "9002", -20*time.Minute)
	delighted("frank", "nps", 10, -15*time.Minute)

	// The rate rule is evaluated on the schedule.
	idle(t, st)
	if err := st.Tick(context.Background(), "rule-timers"); err != nil {
		t.Fatal(err)
	}
	cid := func(key string) string { return "customer_id=" + customerOf(key) }
	want := []string{
		"contact.repeat " + cid("phone:+14155550101") + " open",
		"contact.channel_hop " + cid("email:carol@example.com") + " open",
		"nps.detractor " + cid("email:dave@example.com") + " open",
		"csat.low " + cid("email:erin@example.com") + " open",
		"ces.high_effort " + cid("email:fay@example.com") + " open",
		"payment.failed_twice " + cid("email:gus@example.com") + " open",
		"email.bounced " + cid("email:jo@example.com") + " open",
		"email.bounced " + cid("email:jules@example.com") + " open",
		"email.bounced " + cid("email:june@example.com") + " open",
		"email.bounce_rate channel=sendgrid open",
		"sms.undelivered " + cid("phone:+14155550111") + " open",
	}
	check := func(what string, want []string) []events.Failure {
		t.Helper()
		sort.Strings(want)
		w := strings.Join(want, "\n")
		var got []events.Failure
		for end := time.Now().Add(30 * time.Second); summary(got) != w && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			got = failures(t, st)
		}
		// Nothing more arrives, for Frank or anyone.
		idle(t, st)
		time.Sleep(time.Second)
		if got = failures(t, st); summary(got) != w {
			t.Fatalf("%s:\n%s\nwant:\n%s", what, summary(got), w)
		}
		for _, f := range got {
			r := pack[f.RuleID]
			if f.Team != r.Team || f.Severity != r.Severity || f.Occurrences != 1 || len(f.Evidence) == 0 {
				t.Errorf("failure %s %s: team %s severity %s, %d occurrences, %d evidence; want %s %s, once, with evidence",
					f.RuleID, f.Key, f.Team, f.Severity, f.Occurrences, len(f.Evidence), r.Team, r.Severity)
			}
		}
		return got
	}
	check("the failures of the events", want)

	// The deadlines pass while the stack is down; after the restart the
	// schedule fires each, once however often it runs, within a minute of
	// its due time. Half a minute past each due time, the stack's clock
	// moves on and the schedule runs.
	st.Stop()
	deadline := func(due time.Time, rule, key string) {
		t.Helper()
		offset.Store(int64(due.Add(30 * time.Second).Sub(testNow())))
		for range 3 {
			if err := st.Tick(context.Background(), "rule-timers"); err != nil {
				t.Fatal(err)
			}
		}
		var f events.Failure
		eventually(t, rule+" "+key, 15*time.Second, func() bool {
			for _, g := range failures(t, st) {
				if g.RuleID == rule && g.Key == key {
					f = g
				}
			}
			return f.ID != ""
		})
		if d := f.DetectedAt.Sub(due); d < 0 || d > time.Minute {
			t.Errorf("%s %s detected %s after it was due, want within a minute", rule, key, d)
		}
	}
	offset.Store(int64(ginaDue.Sub(testNow())))
	running = startWith(t, stateDir, "", clock)
	st = running
	deadline(ginaDue, "order.unfulfilled", "attributes.order_id=G-1")
	deadline(halDue, "order.undelivered", "attributes.order_id=H-1")
	// Gina's order is fulfilled late: the failure resolves itself.
	checkout("msg_gina_2", order("order.fulfilled", "gina@example.com", "G-1", stackNow().Sub(t0), ""))
	deadline(ivyDue, "ticket.first_response", "channel+attributes.ticket_id=zendesk+8001")
	// The stage's SLA is kept by the journey function, to the
	// nanosecond of the ticket's time.
	deadline(ivyDue, "journey.stalled", "journey+instance=support-case+8001")

	// Hours later the bounce-rate window is empty and the spike resolved.
	for i, w := range want {
		if strings.HasPrefix(w, "email.bounce_rate ") {
			want[i] = "email.bounce_rate channel=sendgrid resolved"
		}
	}
	want = append(want,
		"order.unfulfilled attributes.order_id=G-1 resolved",
		"order.undelivered attributes.order_id=H-1 open",
		"ticket.first_response channel+attributes.ticket_id=zendesk+8001 open",
		"journey.stalled journey+instance=support-case+8001 open",
	)
	got := check("every failure at the end", want)
	raised := map[string]bool{}
	for _, f := range got {
		raised[f.RuleID] = true
	}
	for id := range pack {
		// The rules on OCX's own intake fire on the per-minute intake
		// tallies, not on customers' traffic: intake_test.go raises them
		// through the stack, their rule tests cover each.
		if !raised[id] && !strings.HasPrefix(id, "intake.") {
			t.Errorf("shipped rule %s has no scenario that raises it", id)
		}
	}
	for _, f := range got {
		if f.RuleID == "order.unfulfilled" && (len(f.History) != 2 || f.History[1].By != "rule order.unfulfilled") {
			t.Errorf("the late order's history %+v", f.History)
		}
	}
}
