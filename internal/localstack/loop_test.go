package localstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/api"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/channel/zendesk"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/loop"
	"github.com/ocxhq/ocx/internal/slackaction"
)

// loopConfig asks the shipped nps.detractor rule for a Zendesk ticket and
// a follow-up within followUp.
func loopConfig(t testing.TB, followUp string) func(dir string) {
	return func(dir string) {
		path := filepath.Join(dir, "rules", "surveys.yaml")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		const anchor = "    runbook: https://example.com/runbooks/nps-detractor\n"
		if !bytes.Contains(raw, []byte(anchor)) {
			t.Fatal("the shipped nps.detractor rule changed; adjust loopConfig")
		}
		raw = bytes.Replace(raw, []byte(anchor), []byte(anchor+"    actions: [zendesk_ticket]\n    follow_up: "+followUp+"\n"), 1)
		writeFile(t, dir, filepath.Join("rules", "surveys.yaml"), string(raw))
	}
}

// surveyAt posts a signed NPS answer of customer who.
func surveyAt(t testing.TB, st *localstack.Stack, id, who string, score int, at time.Time) {
	t.Helper()
	body := fmt.Sprintf(`{"type":"survey.responded","customer":{"id":%q,"email":"%s@example.com"},"occurred_at":%q,"attributes":{"survey":"nps","score":%d}}`,
		who, who, at.UTC().Format(time.RFC3339), score)
	key, _ := standardwebhooks.DecodeSecret(secret)
	req, _ := http.NewRequest("POST", st.URL+"/v1/webhooks/app", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", "v1,"+standardwebhooks.Sign(key, id, at.Unix(), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook %s: %d", id, resp.StatusCode)
	}
}

// solveTicket posts Zendesk's documented ticket.status_changed (to
// SOLVED) for ticket id, signed with the local stack's Zendesk secret.
func solveTicket(t *testing.T, st *localstack.Stack, ticket string, at time.Time) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "channel", "zendesk", "testdata", "ticket.status_changed.solved.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	ev["time"] = at.UTC().Format(time.RFC3339Nano)
	ev["subject"] = "zen:ticket:" + ticket
	ev["detail"].(map[string]any)["id"] = ticket
	body, _ := json.Marshal(ev)
	req, _ := http.NewRequest("POST", st.URL+"/v1/webhooks/zendesk", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(zendesk.HeaderWebhookID, "01F1KRFQ6BG29CNWFR60NK5FNY")
	req.Header.Set(zendesk.HeaderInvocationID, "inv-solved-"+ticket)
	ts := at.UTC().Format(time.RFC3339)
	req.Header.Set(zendesk.HeaderTimestamp, ts)
	req.Header.Set(zendesk.HeaderSignature, zendesk.Sign(st.ChannelSecrets["zendesk"].Sign, ts, body))
	if code := do(t, req); code != http.StatusAccepted && code != http.StatusOK {
		t.Fatalf("zendesk webhook: %d", code)
	}
}

// loopOf reads GET /v1/failures/{id}/loop.
func loopOf(t *testing.T, st *localstack.Stack, id string) loop.Loop {
	t.Helper()
	var l loop.Loop
	if code := call(t, st, "GET", "/v1/failures/"+id+"/loop", &l); code != 200 {
		t.Fatalf("GET loop of %s: %d", id, code)
	}
	return l
}

// recoveryRate reads recovery_rate over the day around at.
func recoveryRate(t *testing.T, st *localstack.Stack, at time.Time) (points int, value float64, n int64) {
	t.Helper()
	from := at.UTC().Truncate(time.Hour).Add(-time.Hour).Format(time.RFC3339)
	to := at.UTC().Truncate(time.Hour).Add(2 * time.Hour).Format(time.RFC3339)
	var res api.SeriesResponse
	if code := call(t, st, "GET", "/v1/metrics/recovery_rate?granularity=hour&from="+from+"&to="+to, &res); code != 200 {
		t.Fatalf("GET recovery_rate: %d", code)
	}
	for _, p := range res.Points {
		if p.N > 0 {
			points++
			value, n = p.Value, p.N
		}
	}
	return points, value, n
}

func detractorFailure(t *testing.T, st *localstack.Stack) events.Failure {
	t.Helper()
	var f events.Failure
	eventually(t, "the detractor's failure", 30*time.Second, func() bool {
		for _, x := range failures(t, st) {
			if x.RuleID == "nps.detractor" {
				f = x
				return true
			}
		}
		return false
	})
	return f
}

// A detractor answer opens one Zendesk ticket even though the notify
// function's first attempt meets a Zendesk outage and is retried; the
// ticket solved in Zendesk (its signed webhook) resolves the failure; the
// subscribed endpoint gets both steps as signed outbound webhooks that the
// standard-webhooks library verifies; a later NPS 9 from the same customer
// marks the customer recovered, and recovery_rate moves on the API.
func TestClosedLoopOverHTTP(t *testing.T) {
	// The stack's clock stands still unless the test moves it; failure
	// events go to a subscriber verifying them with the standard-webhooks
	// library.
	var offset atomic.Int64
	base := testNow()
	now := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	rc := &webhookReceiver{t: t, now: now, up: func(string, int) int { return http.StatusOK }, seen: map[string]int{}}
	subscriber := httptest.NewServer(rc)
	defer subscriber.Close()
	dir := t.TempDir()
	if err := os.CopyFS(dir, config.Shipped); err != nil {
		t.Fatal(err)
	}
	loopConfig(t, "48h")(dir)
	st, err := localstack.Start(context.Background(), localstack.Config{
		HTTPAddr: "127.0.0.1:0", StateDir: t.TempDir(), APIToken: "test-token",
		RollupEvery: time.Hour, EmailFrom: localstack.DefaultFrom, Secrets: map[string]string{"app": secret},
		ConfigDir: dir, Log: quietLog(), Now: now,
		OutboundURL: subscriber.URL + "/ocx-events", OutboundSecret: outboundSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	ctx := context.Background()
	t0 := now()
	st.Zendesk.FailNext(1, http.StatusServiceUnavailable, "")

	surveyAt(t, st, "msg_loop_detractor", "dora", 3, t0)
	f := detractorFailure(t, st)
	idle(t, st)
	eventually(t, "the ticket", 30*time.Second, func() bool { return len(st.Zendesk.Tickets()) > 0 })
	idle(t, st)
	tickets := st.Zendesk.Tickets()
	if len(tickets) != 1 || st.Zendesk.Requests() != 2 {
		t.Fatalf("%d tickets from %d requests, want 1 ticket after a retried 503", len(tickets), st.Zendesk.Requests())
	}
	tk := tickets[0]
	if tk.Requester.Email != "dora@example.com" || tk.Priority != "high" || tk.ExternalID != f.ID || tk.IdempotencyKey != "ocx-"+f.ID ||
		!strings.Contains(tk.Description, "survey.responded") || tk.Subject != f.Description {
		t.Fatalf("ticket %+v", tk)
	}
	ticketID := fmt.Sprint(tk.ID)
	if l := loopOf(t, st, f.ID); l.TicketID != ticketID || l.FollowUpDue.IsZero() {
		t.Fatalf("loop %+v, want ticket %s and a follow-up deadline", l, ticketID)
	}
	var detail failure.Detail
	call(t, st, "GET", "/v1/failures/"+f.ID, &detail)
	if len(detail.Activity) == 0 || !strings.Contains(detail.Activity[len(detail.Activity)-1].Text, "Zendesk ticket "+ticketID) {
		t.Fatalf("activity %+v: want the ticket noted", detail.Activity)
	}

	// Zendesk says the ticket was solved.
	offset.Store(int64(3 * time.Hour))
	solveTicket(t, st, ticketID, now())
	eventually(t, "the failure resolved by its ticket", 30*time.Second, func() bool {
		call(t, st, "GET", "/v1/failures/"+f.ID, &detail)
		return detail.State == failure.Resolved
	})
	last := detail.History[len(detail.History)-1]
	if last.By != "zendesk" || last.Note != "Zendesk ticket "+ticketID+" was solved" {
		t.Fatalf("resolved by %q: %q", last.By, last.Note)
	}
	if n := len(st.Zendesk.Tickets()); n != 1 {
		t.Fatalf("%d tickets after the lifecycle, want 1", n)
	}

	// The subscriber had the failure detected and resolved, each once,
	// signed (webhookReceiver verifies every delivery).
	eventually(t, "the outbound webhooks", 30*time.Second, func() bool {
		types := map[string]int{}
		for _, r := range rc.receipts() {
			types[r.typ]++
		}
		return types["failure.detected"] == 1 && types["failure.resolved"] == 1
	})

	// Before any outcome, recovery_rate has no cases.
	if err := st.Tick(ctx, "rollup"); err != nil {
		t.Fatal(err)
	}
	if pts, _, _ := recoveryRate(t, st, t0); pts != 0 {
		t.Fatalf("recovery_rate has %d points before any outcome", pts)
	}

	// A week later the customer answers 9.
	offset.Store(int64(7 * 24 * time.Hour))
	surveyAt(t, st, "msg_loop_promoter", "dora", 9, now())
	eventually(t, "the customer recovered", 30*time.Second, func() bool { return loopOf(t, st, f.ID).Outcome == events.OutcomeRecovered })
	l := loopOf(t, st, f.ID)
	if l.Reason != "nps 9" || !l.DecidedAt.Equal(now().UTC().Truncate(time.Second)) || l.ResolvedAt.IsZero() {
		t.Fatalf("loop %+v", l)
	}
	idle(t, st)
	eventually(t, "recovery_rate moved", 30*time.Second, func() bool {
		if err := st.Tick(ctx, "rollup"); err != nil {
			t.Fatal(err)
		}
		pts, v, n := recoveryRate(t, st, t0)
		return pts == 1 && v == 100 && n == 1
	})
}

// A follow-up deadline nobody meets escalates within seconds of it: the
// loop's own wake-up fires at the deadline, the team hears at raised
// severity, and the loop says when.
func TestMissedFollowUpEscalatesAtTheDeadline(t *testing.T) {
	st, h, offset, now := notifyStack(t, loopConfig(t, "2h"))
	ctx := context.Background()
	t0 := now()
	surveyAt(t, st, "msg_followup", "fred", 2, t0)
	f := detractorFailure(t, st)
	idle(t, st)
	due := loopOf(t, st, f.ID).FollowUpDue
	if !due.Equal(f.DetectedAt.Add(2 * time.Hour)) {
		t.Fatalf("follow-up due %s, want 2h after %s", due, f.DetectedAt)
	}
	// The group's own alert goes out first.
	offset.Store(int64(10 * time.Minute))
	deliverWakeups(ctx, t, st)
	before := len(h.accepted())

	// The notify-flush sweep five minutes before the deadline asks for the
	// deadline's own wake-up (the deadline is hours off at detection).
	offset.Store(int64(due.Sub(t0) - 5*time.Minute))
	flushNotifications(t, st)
	// A second before the deadline nothing escalates; at it, the wake-up does.
	offset.Store(int64(due.Sub(t0) - time.Second))
	deliverWakeups(ctx, t, st)
	if l := loopOf(t, st, f.ID); !l.EscalatedAt.IsZero() || len(h.accepted()) != before {
		t.Fatalf("escalated before the deadline: %+v", l)
	}
	offset.Store(int64(due.Sub(t0) + time.Second))
	deliverWakeups(ctx, t, st)
	l := loopOf(t, st, f.ID)
	if l.EscalatedAt.IsZero() || l.EscalatedAt.Sub(due) > 5*time.Second {
		t.Fatalf("escalated at %s, want within seconds of %s", l.EscalatedAt, due)
	}
	posts := h.accepted()
	if len(posts) != before+1 || !strings.Contains(fmt.Sprint(posts[len(posts)-1]), "Follow-up missed") {
		t.Fatalf("%d Slack posts (had %d), want one escalation", len(posts), before)
	}
	// A redelivered wake-up and the sweep send nothing more.
	injectWakeup(t, st, "notify", loop.WakePrefix+f.ID, due)
	deliverWakeups(ctx, t, st)
	flushNotifications(t, st)
	if n := len(h.accepted()); n != before+1 {
		t.Fatalf("%d Slack posts after a redelivered wake-up, want %d", n, before+1)
	}

	// Resolve on the escalation resolves the failure it is about.
	esc := posts[len(posts)-1]
	blocks := make([]any, len(esc.Blocks))
	for i, b := range esc.Blocks {
		blocks[i] = b
	}
	msg := map[string]any{"text": esc.Text, "blocks": blocks}
	key, blockID, ok := button(msg, slackaction.ActionResolve)
	if !ok {
		t.Fatal("the escalation has no Resolve button")
	}
	respondTo := &responseURL{}
	respond := httptest.NewServer(respondTo)
	defer respond.Close()
	// Contacted on the escalation records who reached the customer.
	ckey, cblock, ok := button(msg, slackaction.ActionContacted)
	if !ok || ckey != key {
		t.Fatal("the escalation has no Contacted button for its failure")
	}
	if code := press(t, st, slackaction.ActionContacted, cblock, ckey, respond.URL+"/c", msg, localstack.DefaultSlackSigningSecret, now(), false); code != 200 {
		t.Fatalf("contacted from the escalation: %d", code)
	}
	if l := loopOf(t, st, f.ID); l.FollowedUpBy != "slack:U0ONCALL" || !l.FollowedUpAt.Equal(now().UTC()) {
		t.Fatalf("loop after Contacted: %+v", l)
	}
	if got := respondTo.all(); len(got) != 1 || got[0]["response_type"] != "ephemeral" {
		t.Fatalf("Contacted answered %v", got)
	}
	if code := press(t, st, slackaction.ActionResolve, blockID, key, respond.URL+"/r", msg, localstack.DefaultSlackSigningSecret, now(), false); code != 200 {
		t.Fatalf("resolve from the escalation: %d", code)
	}
	var detail failure.Detail
	call(t, st, "GET", "/v1/failures/"+f.ID, &detail)
	if detail.State != failure.Resolved || detail.History[len(detail.History)-1].By != "slack:U0ONCALL" {
		t.Fatalf("after Resolve on the escalation: %s %+v", detail.State, detail.History)
	}
}
