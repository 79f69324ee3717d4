package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/httpjson"
	"github.com/ocxhq/ocx/internal/topology"
)

func appEvent(typ, customer, attrs string) string {
	if attrs == "" {
		attrs = "{}"
	}
	return `{"type":"` + typ + `","customer":` + customer + `,"occurred_at":"2026-11-23T07:59:00Z","attributes":` + attrs + `}`
}

// Unkeepable input to the in-house channel is refused with 400 or 413 and
// a quarantined copy; it is never a 5xx that the sender would retry.
func TestEdgeLimitsRefuseWithAQuarantinedCopy(t *testing.T) {
	many := make([]string, MaxItems+1)
	for i := range many {
		many[i] = appEvent("order.created", `{"id":"u1"}`, "")
	}
	cases := []struct {
		name, body, message string
		status              int
	}{
		{"nested 5,000 deep", appEvent("a.b", `{"id":"u1"}`, `{"x":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`), "nested deeper than 32", 400},
		{"event type of 10,000 characters", appEvent("a."+strings.Repeat("b", 10000), `{"id":"u1"}`, ""), "over the 128-byte limit", 400},
		{"attribute key of 1,000 bytes", appEvent("a.b", `{"id":"u1"}`, `{"`+strings.Repeat("k", 1000)+`":1}`), "key, over the 128-byte limit", 400},
		{"attribute string of 40 KiB", appEvent("a.b", `{"id":"u1"}`, `{"comment":"`+strings.Repeat("c", 40<<10)+`"}`), "over the 32768-byte limit", 413},
		{"too many events", "[" + strings.Join(many, ",") + "]", "1001 events in one request", 413},
		{"no usable identity", appEvent("a.b", `{"email":"a@","phone":"+0","id":" "}`, ""), "no usable customer identity", 400},
		{"email of 5,000 characters only", appEvent("a.b", `{"email":"`+strings.Repeat("a", 5000)+`@example.com"}`, ""), "longer than 254", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture()
			w := serve(f.svc, signed("POST", "/v1/webhooks/app", "m-"+c.name, now, c.body))
			var e httpjson.ErrorBody
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != c.status || e.Error.Status != c.status || !strings.Contains(e.Error.Message, c.message) || !strings.Contains(e.Error.Message, "quarantined") {
				t.Fatalf("%d %.300s; want %d naming %q and the quarantined copy", w.Code, w.Body, c.status, c.message)
			}
			if len(f.q.rows) != 1 || len(f.a.objects) != 1 || len(f.b.published) != 0 {
				t.Fatalf("%d bad rows, %d archived, %d published; want the copy kept and nothing published", len(f.q.rows), len(f.a.objects), len(f.b.published))
			}
			for _, row := range f.q.rows {
				b, _ := json.Marshal(row)
				if len(b) > MaxBadRowBytes || row.Raw == "" {
					t.Fatalf("bad row of %d bytes, raw %q", len(b), row.Raw)
				}
			}
		})
	}
}

// An event too large for one EventBridge entry travels by reference: the
// bus carries its identity, type and small attributes and a pointer to the
// whole event in the archive.
func TestClaimCheckForEventsOverAnEntry(t *testing.T) {
	f := newFixture()
	var attrs []string
	for i := range 12 {
		attrs = append(attrs, fmt.Sprintf(`"note%02d":"%s"`, i, strings.Repeat("n", 30<<10)))
	}
	attrs = append(attrs, `"survey":"nps"`, `"score":3`)
	body := appEvent("survey.responded", `{"id":"u1","email":"ann@example.com"}`, "{"+strings.Join(attrs, ",")+"}")
	if len(body) < 262000 {
		t.Fatalf("body of %d bytes is not over an entry", len(body))
	}
	w := serve(f.svc, signed("POST", "/v1/webhooks/app", "big-1", now, body))
	if w.Code != 202 || len(f.b.published) != 1 {
		t.Fatalf("%d %s, %d published", w.Code, w.Body, len(f.b.published))
	}
	ev := f.b.published[0].Detail.(events.Interaction)
	detail, _ := json.Marshal(ev)
	if n := events.EntrySize(events.SourceIngest, ev.Type, detail, true); n > events.MaxEntrySize {
		t.Fatalf("published entry of %d bytes", n)
	}
	if ev.ClaimCheck == "" || ev.Attributes["score"] != float64(3) || ev.Attributes["survey"] != "nps" || ev.Customer.Email != "ann@example.com" {
		t.Fatalf("slim event lost what rules need: claim %q attrs %d customer %+v", ev.ClaimCheck, len(ev.Attributes), ev.Customer)
	}
	key := strings.TrimPrefix(ev.ClaimCheck, "s3://raw/")
	var whole events.Interaction
	if err := json.Unmarshal(f.a.objects[key], &whole); err != nil || len(whole.Attributes) != 14 || whole.ID != ev.ID {
		t.Fatalf("claim %s: %d attributes, %v", key, len(whole.Attributes), err)
	}
	// Small events are not claim-checked.
	w = serve(f.svc, signed("POST", "/v1/webhooks/app", "small-1", now, npsBody))
	if ev := f.b.published[1].Detail.(events.Interaction); w.Code != 202 || ev.ClaimCheck != "" {
		t.Fatalf("small event: %d, claim %q", w.Code, ev.ClaimCheck)
	}
}

// Identity values the journey function could not use are dropped at
// arrival with a reason on a bad row; the event goes on with the rest.
func TestUnusableIdentityDroppedWithReason(t *testing.T) {
	f := newFixture()
	body := "[" + appEvent("order.created", `{"id":"u1","email":"not-an-email","phone":"07946 000000"}`, "") + "," +
		appEvent("order.created", `{"id":" ","email":"Ann@Example.com"}`, "") + "]"
	w := serve(f.svc, signed("POST", "/v1/webhooks/app", "ids-1", now, body))
	if w.Code != 202 || len(f.b.published) != 2 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if c := f.b.published[0].Detail.(events.Interaction).Customer; !reflect.DeepEqual(c, events.Customer{ID: "u1"}) {
		t.Fatalf("first customer %+v", c)
	}
	if c := f.b.published[1].Detail.(events.Interaction).Customer; !reflect.DeepEqual(c, events.Customer{Email: "ann@example.com"}) {
		t.Fatalf("second customer %+v", c)
	}
	if len(f.q.rows) != 1 {
		t.Fatalf("%d bad rows, want one recording the drops", len(f.q.rows))
	}
	for _, row := range f.q.rows {
		text, _ := json.Marshal(row.Reasons)
		if len(row.Reasons) != 2 || !row.Reasons[0].Kept || !strings.Contains(string(text), "customer.email dropped (not an email address)") ||
			!strings.Contains(string(text), "customer.phone dropped") || !strings.Contains(string(text), "customer.id dropped (blank)") ||
			strings.Contains(string(text), "not-an-email") {
			t.Fatalf("reasons %s", text)
		}
	}
}

// In a provider's batch each item that breaks a limit or has no usable
// identity is quarantined on its own; the good items are published, and a
// batch over MaxItems publishes MaxItems and quarantines the rest.
func TestProviderBatchItemsFailOnTheirOwn(t *testing.T) {
	f := newFixture()
	f.svc.Channels["partial"] = channel.Channel{Config: channel.Config{ID: "partial"}, Kind: partial{known: map[string]bool{"created": true}}}
	items := []string{`{"id":"1","kind":"created","email":"a@"}`, `{"id":"2","kind":"created","email":"bob@example.com"}`, `{"id":"3","kind":"exploded","email":"bob@example.com"}`}
	for i := range MaxItems + 10 {
		items = append(items, fmt.Sprintf(`{"id":"n%d","kind":"created","email":"c%d@example.com"}`, i, i))
	}
	req := httptest.NewRequest("POST", "/v1/webhooks/partial", strings.NewReader("["+strings.Join(items, ",")+"]"))
	req.Header.Set("x-delivery", "batch-1")
	w := serve(f.svc, req)
	var acc Accepted
	_ = json.Unmarshal(w.Body.Bytes(), &acc)
	if w.Code != 202 || len(acc.EventIDs) != MaxItems || acc.Quarantined != 13 || len(f.b.published) != MaxItems {
		t.Fatalf("%d: %d ids, %d quarantined, %d published", w.Code, len(acc.EventIDs), acc.Quarantined, len(f.b.published))
	}
}

// stalledBus never answers: the request ends at the deadline with 503 and
// Retry-After, and the delivery is free for the sender's retry.
type stalledBus struct{}

func (stalledBus) Publish(ctx context.Context, _ ...events.Event) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestDeadlineAnswers503WhenADependencyStalls(t *testing.T) {
	f := newFixture()
	f.svc.Bus = stalledBus{}
	f.svc.Timeout = 50 * time.Millisecond
	w := serve(f.svc, signed("POST", "/v1/webhooks/app", "slow-1", now, npsBody))
	if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "not kept within 50ms") {
		t.Fatalf("%d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if len(f.l.state) != 0 {
		t.Fatalf("stalled attempt left ledger state %v", f.l.state)
	}
	if fn, _ := topology.FunctionByName(topology.Ingest); Deadline+2*time.Second > fn.Timeout || Deadline >= 30*time.Second {
		t.Fatalf("deadline %s leaves no time to answer within the function's %s or API Gateway's 30s", Deadline, fn.Timeout)
	}
}

// topical takes its event type from an unsigned header, as Shopify's topic.
type topical struct{}

func (topical) Verify(channel.Request, []string, time.Time) error { return nil }

func (topical) Parse(req channel.Request) (channel.Delivery, error) {
	return channel.Delivery{ID: req.Header.Get("x-id"), Events: []channel.Draft{{Type: req.Header.Get("x-topic"), Customer: events.Customer{Email: "ann@example.com"}}}}, nil
}

// For a kind that signs only the body, a captured body replayed under a new
// delivery id is the same delivery, and under another topic it is refused.
func TestBodySignedReplayIsDedupedAndRetopicRefused(t *testing.T) {
	f := newFixture()
	f.svc.Channels["shop"] = channel.Channel{Config: channel.Config{ID: "shop", Kind: "shopify"}, Kind: topical{}}
	f.svc.Secrets = secretsMap{"channel/shop": {"s"}}
	post := func(id, topic string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/webhooks/shop", strings.NewReader(`{"id":820982911946154500}`))
		req.Header.Set("x-id", id)
		req.Header.Set("x-topic", topic)
		return serve(f.svc, req)
	}
	first := post("w1", "order.created")
	if first.Code != 202 || len(f.b.published) != 1 {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	again := post("w2", "order.created")
	var a1, a2 Accepted
	_ = json.Unmarshal(first.Body.Bytes(), &a1)
	_ = json.Unmarshal(again.Body.Bytes(), &a2)
	if again.Code != 200 || !a2.Duplicate || a2.EventIDs[0] != a1.EventIDs[0] || len(f.b.published) != 1 {
		t.Fatalf("replay under a new id: %d %s, %d published", again.Code, again.Body, len(f.b.published))
	}
	forged := post("w3", "order.cancelled")
	if forged.Code != 400 || !strings.Contains(forged.Body.String(), `already received as \"order.created\"`) || len(f.b.published) != 1 {
		t.Fatalf("re-topiced replay: %d %s, %d published", forged.Code, forged.Body, len(f.b.published))
	}
	if f.l.state["shopw3"] != "" {
		t.Fatalf("refused replay left its claim: %v", f.l.state)
	}
}

// A batch over MaxItems publishes MaxItems at once; replaying its bad row
// publishes the rest, at most MaxItems a call, each event once.
func TestReplayPublishesOverflowInBatches(t *testing.T) {
	f := newFixture()
	f.svc.Channels["partial"] = channel.Channel{Config: channel.Config{ID: "partial"}, Kind: partial{known: map[string]bool{"created": true}}}
	var items []string
	for i := range 2*MaxItems + 500 {
		items = append(items, fmt.Sprintf(`{"id":"n%d","kind":"created","email":"c%d@example.com"}`, i, i))
	}
	req := httptest.NewRequest("POST", "/v1/webhooks/partial", strings.NewReader("["+strings.Join(items, ",")+"]"))
	req.Header.Set("x-delivery", "big-batch")
	if w := serve(f.svc, req); w.Code != 202 || len(f.b.published) != MaxItems {
		t.Fatalf("%d, %d published", w.Code, len(f.b.published))
	}
	var id string
	for k := range f.q.rows {
		id = k
	}
	rp := &Replayer{Channels: f.svc.Channels, Archive: archiveReader{f.a}, Quarantine: f.q, Bus: f.b, Now: f.svc.Now}
	res, err := rp.Replay(t.Context(), id)
	if err != nil || len(res.Published) != MaxItems || res.Row.State != StateQuarantined {
		t.Fatalf("first replay: %d published, %s, %v", len(res.Published), res.Row.State, err)
	}
	res, err = rp.Replay(t.Context(), id)
	if err != nil || len(res.Published) != 500 || res.Row.State != StateReplayed {
		t.Fatalf("second replay: %d published, %s, %v", len(res.Published), res.Row.State, err)
	}
	seen := map[string]bool{}
	for _, e := range f.b.published {
		id := e.Detail.(events.Interaction).ID
		if seen[id] {
			t.Fatalf("%s published twice", id)
		}
		seen[id] = true
	}
	if len(seen) != 2*MaxItems+500 {
		t.Fatalf("%d distinct events published", len(seen))
	}
}

// A body first received under a topic the channel ignores (or cannot map)
// published nothing, so the same body under a mapped topic is accepted.
func TestBodySeenUnderAnIgnoredTopicIsNotAReplay(t *testing.T) {
	f := newFixture()
	f.svc.Channels["shop"] = channel.Channel{Config: channel.Config{ID: "shop", Kind: "shopify"}, Kind: topical{}}
	f.svc.Secrets = secretsMap{"channel/shop": {"s"}}
	post := func(id, topic string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/webhooks/shop", strings.NewReader(`{"id":7}`))
		req.Header.Set("x-id", id)
		req.Header.Set("x-topic", topic)
		return serve(f.svc, req)
	}
	// An empty type is what topical gives an unmappable topic: quarantined.
	if w := post("u1", ""); w.Code != 400 && w.Code != 202 {
		t.Fatalf("unmapped topic: %d %s", w.Code, w.Body)
	}
	if w := post("c1", "order.created"); w.Code != 202 || len(f.b.published) != 1 {
		t.Fatalf("same body, mapped topic: %d %s", w.Code, w.Body)
	}
}
