package localstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/awsclient"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/topology"
)

// hook is a stand-in Slack incoming webhook. It checks each post is an
// incoming-webhook payload (a text fallback and Block Kit blocks, nothing
// else), answers with the statuses queued in replies (then 200), and keeps
// what it accepted with the time it arrived.
type hook struct {
	mu      sync.Mutex
	replies []reply
	posts   []hookPost
	tries   int
	bad     []string
}

type reply struct {
	status     int
	retryAfter string
}

type hookPost struct {
	Text   string           `json:"text"`
	Blocks []map[string]any `json:"blocks"`
	at     time.Time
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tries++
	var p hookPost
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	switch {
	case r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json":
		h.bad = append(h.bad, r.Method+" "+r.Header.Get("Content-Type"))
	case dec.Decode(&p) != nil:
		h.bad = append(h.bad, "not an incoming-webhook payload: "+string(body))
	case strings.TrimSpace(p.Text) == "" || len(p.Blocks) == 0:
		h.bad = append(h.bad, "no text fallback or no blocks: "+string(body))
	}
	for _, b := range p.Blocks {
		if typ, _ := b["type"].(string); typ == "" {
			h.bad = append(h.bad, "block without a type: "+string(body))
		}
	}
	if len(h.replies) > 0 {
		rp := h.replies[0]
		h.replies = h.replies[1:]
		if rp.retryAfter != "" {
			w.Header().Set("Retry-After", rp.retryAfter)
		}
		w.WriteHeader(rp.status)
		_, _ = io.WriteString(w, "rate_limited")
		return
	}
	p.at = testNow()
	h.posts = append(h.posts, p)
	_, _ = io.WriteString(w, "ok")
}

func (h *hook) accepted() []hookPost {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.posts)
}

func (h *hook) failIf(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bad) > 0 {
		t.Fatalf("posts Slack would refuse: %v", h.bad)
	}
}

// notifyStack starts a stack posting to a new hook, with a clock the test
// moves; configure, when set, edits a copy of the shipped configuration.
func notifyStack(t testing.TB, configure func(dir string)) (*localstack.Stack, *hook, *atomic.Int64, func() time.Time) {
	t.Helper()
	h := &hook{}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	// The clock stands still unless the test moves it, so a slow machine
	// does not let group_wait pass in the middle of a burst.
	offset := &atomic.Int64{}
	base := testNow()
	dir := ""
	if configure != nil {
		dir = t.TempDir()
		if err := os.CopyFS(dir, config.Shipped); err != nil {
			t.Fatal(err)
		}
		configure(dir)
	}
	st, err := localstack.Start(context.Background(), localstack.Config{
		HTTPAddr: "127.0.0.1:0", StateDir: t.TempDir(), SlackURL: srv.URL, APIToken: "test-token",
		RollupEvery: time.Hour, EmailFrom: localstack.DefaultFrom, Secrets: map[string]string{"app": secret},
		ConfigDir: dir, Log: quietLog(),
		Now: func() time.Time { return base.Add(time.Duration(offset.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	return st, h, offset, func() time.Time { return base.Add(time.Duration(offset.Load())) }
}

// writeFile replaces one configuration file.
func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	_ = os.Chmod(path, 0o644)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// flushNotifications runs the notification schedule once, as its timer would.
func flushNotifications(t testing.TB, st *localstack.Stack) {
	t.Helper()
	idle(t, st)
	for _, s := range topology.Schedules {
		if s.Target == topology.Notify {
			if err := st.Tick(context.Background(), s.Name); err != nil {
				t.Fatalf("tick %s: %v", s.Name, err)
			}
		}
	}
}

// detractorAt posts a signed NPS 3 of customer who, signed at the stack's time.
func detractorAt(t testing.TB, st *localstack.Stack, id, who string, at time.Time) {
	t.Helper()
	body := fmt.Sprintf(`{"type":"survey.responded","customer":{"id":%q,"email":"%s@example.com"},"occurred_at":%q,"attributes":{"survey":"nps","score":3}}`,
		who, who, at.UTC().Format(time.RFC3339))
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

// publish puts a failure lifecycle event on the bus as the rules function
// does, and waits until notify has seen it, so the clock the test moves next
// is not the one the event is handled at.
func publish(t testing.TB, st *localstack.Stack, detailType string, f events.Failure) {
	t.Helper()
	pub, err := st.Bus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(context.Background(), events.Event{Source: events.SourceRules, DetailType: detailType, Detail: f, Time: f.DetectedAt}); err != nil {
		t.Fatal(err)
	}
	idle(t, st)
}

// failureOf is a failure of a shipped rule as the rules function raises it.
func failureOf(id, rule, team, severity, channel, customer string, at time.Time) events.Failure {
	return events.Failure{ID: id, RuleID: rule, Description: "Failure of rule " + rule + ".", Severity: severity, Team: team,
		CustomerID: customer, Runbook: "https://example.com/runbooks/" + rule, DetectedAt: at.UTC(), State: "open",
		Labels:   map[string]string{"rule": rule, "team": team, "severity": severity, "channel": channel},
		Evidence: []events.Evidence{{EventID: "evt_" + id, Type: "email.bounced", Channel: channel, OccurredAt: at.UTC()}},
		History:  []events.FailureStep{{State: "open", By: "rule " + rule, At: at.UTC()}}}
}

// mailsTo counts the mails moto's SES kept for an address.
func mailsTo(t testing.TB, st *localstack.Stack, addr string) int {
	t.Helper()
	n := 0
	for _, m := range sentMail(t, st.Moto) {
		if strings.Contains(fmt.Sprint(m["destinations"]), addr) {
			n++
		}
	}
	return n
}

// A burst of 200 detractor failures for one team (20 through signed
// webhooks, 180 as failure events) becomes one Slack message and one mail,
// sent once group_wait has passed; redelivered events send nothing more; an
// unchanged group is reminded once after repeat_interval.
func TestBurstIsOneGroupedNotification(t *testing.T) {
	st, h, offset, now := notifyStack(t, nil)
	t0 := now()
	for i := range 20 {
		detractorAt(t, st, fmt.Sprint("msg_burst_", i), fmt.Sprint("web-", i), t0)
	}
	var published []events.Failure
	for i := range 180 {
		f := failureOf(fmt.Sprintf("flr_burst_%03d", i), "nps.detractor", "cx-support", "warning", "app", fmt.Sprint("bus-", i), t0)
		published = append(published, f)
		publish(t, st, events.TypeFailureDetected, f)
	}
	idle(t, st)
	if n := len(detractors(t, st)); n != 20 {
		t.Fatalf("%d detractor failures from the webhooks, want 20", n)
	}
	flushNotifications(t, st)
	if n := len(h.accepted()); n != 0 {
		t.Fatalf("%d Slack posts before group_wait, want 0", n)
	}

	offset.Store(int64(31 * time.Second))
	flushNotifications(t, st)
	posts := h.accepted()
	if len(posts) != 1 {
		t.Fatalf("%d Slack posts for a burst of 200 failures, want 1", len(posts))
	}
	if !strings.Contains(posts[0].Text, "200×") || !strings.Contains(posts[0].Text, "Customer support") {
		t.Errorf("the grouped message does not say 200 failures for the team: %s", posts[0].Text)
	}
	if n := mailsTo(t, st, "cx-support@example.com"); n != 1 {
		t.Fatalf("%d mails for the burst, want 1", n)
	}
	sent := len(posts) + mailsTo(t, st, "cx-support@example.com")
	t.Logf("burst of 200 failures: %d notifications (%d per 1,000 failures)", sent, sent*1000/200)

	// Redelivered: the same failure events again, and a webhook again.
	for _, f := range published[:20] {
		publish(t, st, events.TypeFailureDetected, f)
	}
	detractorAt(t, st, "msg_burst_0", "web-0", t0)
	offset.Store(int64(10 * time.Minute))
	flushNotifications(t, st)
	if n := len(h.accepted()); n != 1 {
		t.Fatalf("redelivered events sent %d more Slack posts", n-1)
	}

	// Unchanged and unacknowledged past repeat_interval (4h): one reminder.
	offset.Store(int64(4*time.Hour + time.Minute))
	flushNotifications(t, st)
	flushNotifications(t, st)
	offset.Store(int64(4*time.Hour + 2*time.Minute))
	flushNotifications(t, st)
	if n := len(h.accepted()); n != 2 {
		t.Fatalf("%d Slack posts after repeat_interval, want 2 (one reminder)", n)
	}
	if n := mailsTo(t, st, "cx-support@example.com"); n != 2 {
		t.Fatalf("%d mails after repeat_interval, want 2", n)
	}
	h.failIf(t)
}

// A silenced failure sends nothing while the silence lasts; a channel-wide
// bounce rate mutes the per-customer bounces of its channel but not of
// another; a failure unacknowledged past its team's escalation time
// notifies the escalation team once; a resolved group sends a follow-up.
func TestSilenceInhibitionEscalation(t *testing.T) {
	st, h, offset, now := notifyStack(t, func(dir string) {
		b, _ := os.ReadFile(filepath.Join(dir, "teams.yaml"))
		teams := strings.Replace(string(b), "    slack: digital\n", "    slack: digital\n    escalation: {after: 30m, to: cx-support}\n", 1)
		writeFile(t, dir, "teams.yaml", teams)
	})

	var created struct {
		ID       string   `json:"id"`
		Matchers []string `json:"matchers"`
		State    string   `json:"state"`
	}
	if code := apiCall(t, st, "POST", "/v1/silences", map[string]any{"matchers": []string{`rule="nps.detractor"`}, "duration": "1h",
		"created_by": "ann@example.com", "comment": "survey tool migration"}, &created); code != 201 || created.State != "active" {
		t.Fatalf("create silence: %d %+v", code, created)
	}
	var page struct{ Silences []map[string]any }
	if code := apiCall(t, st, "GET", "/v1/silences", nil, &page); code != 200 || len(page.Silences) != 1 || page.Silences[0]["created_by"] != "ann@example.com" {
		t.Fatalf("list silences: %d %+v", code, page)
	}

	t0 := now()
	publish(t, st, events.TypeFailureDetected, failureOf("flr_nps", "nps.detractor", "cx-support", "warning", "app", "c-1", t0))
	rate := failureOf("flr_rate", "email.bounce_rate", "digital", "critical", "sendgrid", "", t0)
	publish(t, st, events.TypeFailureDetected, rate)
	for i := range 3 {
		publish(t, st, events.TypeFailureDetected, failureOf(fmt.Sprint("flr_sg_", i), "email.bounced", "digital", "warning", "sendgrid", fmt.Sprint("c-sg-", i), t0))
	}
	ses := failureOf("flr_ses", "email.bounced", "digital", "warning", "ses", "c-ses", t0)
	publish(t, st, events.TypeFailureDetected, ses)
	offset.Store(int64(time.Minute))
	flushNotifications(t, st)

	texts := func() []string {
		var out []string
		for _, p := range h.accepted() {
			out = append(out, p.Text)
		}
		return out
	}
	got := texts()
	if len(got) != 2 || !containsAll(got, "email.bounce_rate", "customers c-ses") {
		t.Fatalf("Slack posts %q, want the bounce rate and the ses bounce only", got)
	}
	if containsAll(got, "nps.detractor") || containsAll(got, "c-sg-") {
		t.Fatalf("a silenced or inhibited failure was sent: %q", got)
	}

	// The ses bounce is acknowledged; the bounce rate is not, and escalates
	// to cx-support after 30 minutes, once.
	ses.State = "acknowledged"
	ses.History = append(ses.History, events.FailureStep{State: "acknowledged", By: "ops@example.com", At: now()})
	publish(t, st, events.TypeFailureAcknowledged, ses)
	offset.Store(int64(31 * time.Minute))
	flushNotifications(t, st)
	flushNotifications(t, st)
	got = texts()
	if len(got) != 3 || !strings.Contains(got[2], "ESCALATED") || !strings.Contains(got[2], "email.bounce_rate") {
		t.Fatalf("after 31 minutes: %q, want one escalation of the bounce rate", got)
	}
	if n := mailsTo(t, st, "cx-support@example.com"); n != 1 {
		t.Fatalf("%d escalation mails to cx-support, want 1", n)
	}

	// The rate resolves: its group follows up as resolved.
	rate.State = "resolved"
	rate.History = append(rate.History, events.FailureStep{State: "resolved", By: "rule email.bounce_rate", At: now()})
	publish(t, st, events.TypeFailureResolved, rate)
	flushNotifications(t, st)
	got = texts()
	if len(got) != 4 || !strings.Contains(got[3], "RESOLVED") || !strings.Contains(got[3], "email.bounce_rate") {
		t.Fatalf("after the rate resolved: %q, want a resolved follow-up", got)
	}

	// The silence is expired early: the muted failure is now sent.
	if code := apiCall(t, st, "DELETE", "/v1/silences/"+created.ID, nil, &created); code != 200 || created.State != "expired" {
		t.Fatalf("expire silence: %d %+v", code, created)
	}
	offset.Store(int64(40 * time.Minute))
	flushNotifications(t, st)
	if got = texts(); !containsAll(got, "nps.detractor") {
		t.Fatalf("after the silence ended: %q, want the detractor sent", got)
	}
	h.failIf(t)
}

// Slack's 429 with Retry-After is waited out and the message delivered
// once; a webhook answering 500 keeps its group due and retried by later
// flushes, and only one still failing after notify.DefaultRetryFor leaves
// the notification, with its group, receiver, phase and error, on the
// notify dead-letter queue.
func TestSlackRetryAndDeadLetter(t *testing.T) {
	st, h, offset, now := notifyStack(t, nil)
	h.replies = []reply{{status: 429, retryAfter: "1"}}
	publish(t, st, events.TypeFailureDetected, failureOf("flr_429", "order.stalled", "logistics", "warning", "shopify", "c-1", now()))
	offset.Store(int64(time.Minute))
	flushNotifications(t, st)
	if n, tries := len(h.accepted()), h.tries; n != 1 || tries != 2 {
		t.Fatalf("after a 429: %d posts in %d tries, want 1 in 2", n, tries)
	}

	h.mu.Lock()
	h.replies = slices.Repeat([]reply{{status: 500}}, 2*notify.DefaultBackoff.Attempts)
	h.mu.Unlock()
	publish(t, st, events.TypeFailureDetected, failureOf("flr_500", "payment.failed", "payments", "warning", "stripe", "c-2", now()))
	offset.Store(int64(2 * time.Minute))
	flushNotifications(t, st)
	if n := len(h.accepted()); n != 1 {
		t.Fatalf("%d posts, want the 500s to deliver nothing", n)
	}
	// Still within the retry window: kept due, nothing dead-lettered yet.
	offset.Store(int64(2*time.Minute + notify.DefaultRetryFor))
	flushNotifications(t, st)
	if n := len(h.accepted()); n != 1 {
		t.Fatalf("%d posts, want the 500s to deliver nothing", n)
	}
	cfg, err := awsclient.Load(context.Background(), st.Moto)
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(cfg)
	url, err := q.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String("ocx-" + localstack.Stage + "-notify-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil || len(msgs.Messages) != 1 {
		t.Fatalf("dead-letter queue: %v, %v; want one message", msgs, err)
	}
	var d notify.DeadLetter
	if err := json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &d); err != nil {
		t.Fatal(err)
	}
	if d.Receiver != "payments/slack" || d.Phase != "firing#1" || d.GroupKey == "" || !strings.Contains(d.Error, "500") || !slices.Contains(d.Failures, "flr_500") {
		t.Fatalf("dead letter %+v", d)
	}
	// Handled: the next flush does not send it again on top.
	offset.Store(int64(10 * time.Minute))
	flushNotifications(t, st)
	if n := len(h.accepted()); n != 1 {
		t.Fatalf("%d posts after the dead letter, want 1", n)
	}
	if n := mailsTo(t, st, "payments@example.com"); n != 1 {
		t.Fatalf("%d mails to payments, want 1 (mail does not depend on Slack)", n)
	}
	h.failIf(t)
}

func containsAll(texts []string, subs ...string) bool {
	for _, s := range subs {
		if !slices.ContainsFunc(texts, func(t string) bool { return strings.Contains(t, s) }) {
			return false
		}
	}
	return true
}

// apiCall sends body as JSON with the analysts' token and decodes a 2xx answer.
func apiCall(t *testing.T, st *localstack.Stack, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, st.URL+path, rd)
	req.Header.Set("Authorization", "Bearer test-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// quietLog keeps the stack's logs to warnings and errors.
func quietLog() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
