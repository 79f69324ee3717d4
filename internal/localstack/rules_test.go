package localstack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/localstack"
)

// sendAt posts a signed in-house webhook stamped at ts, for a stack whose
// clock has been moved.
func sendAt(t *testing.T, st *localstack.Stack, id, body string, ts time.Time) int {
	t.Helper()
	key, _ := standardwebhooks.DecodeSecret(secret)
	req, _ := http.NewRequest("POST", st.URL+"/v1/webhooks/app", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", "v1,"+standardwebhooks.Sign(key, id, ts.Unix(), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

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
	return page.Failures
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

// Scripted customers through the in-house channel raise exactly the
// failures the shipped rules promise, and a clean journey none; a promised
// fulfilment that does not come fires its deadline once from the schedule,
// across a restart of the stack, and the late fulfilment resolves it.
func TestShippedRulesEndToEnd(t *testing.T) {
	sink := &slackSink{}
	slackSrv := httptest.NewServer(sink)
	defer slackSrv.Close()
	var offset atomic.Int64
	clock := func(c *localstack.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	}
	stateDir := t.TempDir()
	st := startWith(t, stateDir, slackSrv.URL, clock)
	running := st
	defer func() { running.Stop() }()

	now := time.Now().UTC().Truncate(time.Second)
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	ev := func(typ, email string, when time.Duration, attrs string) string {
		return fmt.Sprintf(`{"type":%q,"customer":{"email":%q},"occurred_at":%q,"attributes":%s}`, typ, email, at(when), attrs)
	}
	deliveries := map[string]string{
		// Bob contacts support three times within the hour.
		"bob": "[" + ev("conversation.opened", "bob@example.com", -30*time.Minute, `{}`) + "," +
			ev("conversation.opened", "bob@example.com", -20*time.Minute, `{}`) + "," +
			ev("message.received", "bob@example.com", -10*time.Minute, `{}`) + "]",
		// Carol chats, then calls ten minutes later.
		"carol": "[" + ev("conversation.opened", "carol@example.com", -20*time.Minute, `{}`) + "," +
			ev("call.completed", "carol@example.com", -10*time.Minute, `{"direction":"inbound"}`) + "]",
		// Dave rates his satisfaction 2 of 5.
		"dave": ev("survey.responded", "dave@example.com", -5*time.Minute, `{"survey":"csat","score":2}`),
		// Erin's payment fails twice.
		"erin": "[" + ev("payment.failed", "erin@example.com", -50*time.Minute, `{"invoice_id":"in_1"}`) + "," +
			ev("payment.failed", "erin@example.com", -5*time.Minute, `{"invoice_id":"in_1","attempt_count":2}`) + "]",
		// Frank's journey goes well: an order fulfilled in time, a
		// promoter's answer, one chat.
		"frank": "[" + ev("order.created", "frank@example.com", -40*time.Minute, fmt.Sprintf(`{"order_id":"F-1","fulfil_by":%q}`, at(time.Hour))) + "," +
			ev("order.fulfilled", "frank@example.com", -30*time.Minute, `{"order_id":"F-1"}`) + "," +
			ev("survey.responded", "frank@example.com", -20*time.Minute, `{"survey":"nps","score":10}`) + "," +
			ev("conversation.opened", "frank@example.com", -10*time.Minute, `{}`) + "]",
		// Gina's order is promised within the hour and not fulfilled.
		"gina": ev("order.created", "gina@example.com", -5*time.Minute, fmt.Sprintf(`{"order_id":"G-1","fulfil_by":%q}`, at(55*time.Minute))),
	}
	for who, body := range deliveries {
		if r := send(t, st, "msg_"+who, body, false); r.StatusCode != 202 {
			t.Fatalf("%s's webhook: %d", who, r.StatusCode)
		}
	}
	want := strings.Join([]string{
		"contact.channel_hop customer.email=carol@example.com open",
		"contact.repeat customer.email=bob@example.com open",
		"csat.low customer.email=dave@example.com open",
		"payment.failed_twice customer.email=erin@example.com open",
	}, "\n")
	var got []events.Failure
	eventually(t, "the four failures", 30*time.Second, func() bool { got = failures(t, st); return summary(got) == want })
	// Nothing more arrives, for Frank or anyone, and each failure went to
	// Slack once.
	time.Sleep(2 * time.Second)
	if got = failures(t, st); summary(got) != want {
		t.Fatalf("failures:\n%s\nwant:\n%s", summary(got), want)
	}
	eventually(t, "one Slack post per failure", 15*time.Second, func() bool { return sink.count() == 4 })
	for _, f := range got {
		if f.Occurrences != 1 || len(f.History) != 1 || len(f.Evidence) == 0 {
			t.Errorf("failure %s: %+v", f.RuleID, f)
		}
	}

	// Gina's deadline passes while the stack is down; after the restart the
	// schedule fires it, once however often it runs.
	st.Stop()
	// The stack's clock: half a minute past the promise (plus the seconds
	// this test has run).
	offset.Store(int64(55*time.Minute + 30*time.Second))
	running = startWith(t, stateDir, slackSrv.URL, clock)
	st = running
	for range 3 {
		if err := st.Tick(context.Background(), "rule-timers"); err != nil {
			t.Fatal(err)
		}
	}
	var late events.Failure
	eventually(t, "the unfulfilled order", 15*time.Second, func() bool {
		for _, f := range failures(t, st) {
			if f.RuleID == "order.unfulfilled" {
				late = f
			}
		}
		return late.ID != ""
	})
	if late.Key != "attributes.order_id=G-1" || late.State != failure.Open || late.Team != "logistics" {
		t.Fatalf("unfulfilled order failure %+v", late)
	}
	if d := late.DetectedAt.Sub(now.Add(55 * time.Minute)); d < 0 || d > time.Minute+10*time.Second {
		t.Fatalf("detected %s after the promise, want within a minute", d)
	}
	eventually(t, "its Slack post", 15*time.Second, func() bool { return sink.count() == 5 })

	// The order is fulfilled late: the failure resolves itself.
	moved := time.Now().Add(time.Duration(offset.Load()))
	if code := sendAt(t, st, "msg_gina_2", ev("order.fulfilled", "gina@example.com", moved.Sub(now), `{"order_id":"G-1"}`), moved); code != 202 {
		t.Fatalf("late fulfilment: %d", code)
	}
	eventually(t, "the failure resolved", 15*time.Second, func() bool {
		for _, f := range failures(t, st) {
			if f.ID == late.ID {
				late = f
			}
		}
		return late.State == failure.Resolved
	})
	if n := len(late.History); n != 2 || late.History[1].By != "rule order.unfulfilled" {
		t.Fatalf("history %+v", late.History)
	}
	if err := st.Tick(context.Background(), "rule-timers"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if got := failures(t, st); len(got) != 5 || sink.count() != 5 {
		t.Fatalf("%d failures and %d Slack posts at the end, want 5 and 5:\n%s", len(got), sink.count(), summary(got))
	}
}
