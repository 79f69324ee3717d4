package localstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/channelhealth"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/localstack"
)

// bulkReplay pages POST /v1/badrows/replay as `ocx replay` does.
func bulkReplay(t *testing.T, st *localstack.Stack, q ingest.BulkRequest) ingest.BulkReport {
	t.Helper()
	total := ingest.BulkReport{DryRun: q.DryRun}
	for range 100 {
		b, _ := json.Marshal(q)
		req, _ := http.NewRequest("POST", st.URL+"/v1/badrows/replay", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer test-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page ingest.BulkReport
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("bulk replay: %d %v", resp.StatusCode, err)
		}
		total.Add(page)
		if page.Next == "" {
			return total
		}
		q.Cursor = page.Next
	}
	t.Fatal("bulk replay never ends")
	return total
}

// A provider's form changes under OCX: a few hundred responses are
// quarantined. After the mapping is fixed a dry run says what a replay
// would do and does nothing; the replay publishes each row's events once,
// records itself on every row, and running it again publishes nothing.
func TestBulkReplayAfterMappingFix(t *testing.T) {
	const n = 240
	cfgDir := t.TempDir()
	writeConfig(t, cfgDir, "nps_ref: other")
	state := t.TempDir()
	adjust := func(c *localstack.Config) {
		c.Secrets = nil
		c.ConfigDir = cfgDir
		c.RollupEvery = time.Hour
	}
	st := startWith(t, state, "", adjust)
	chans, err := channel.Load(os.DirFS(cfgDir), "channels.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tf channel.Channel
	for _, c := range chans {
		if c.ID == "typeform" {
			tf = c
		}
	}
	sample, _ := os.ReadFile("../channel/typeform/testdata/nps_response.json")
	d := delivery{channel: "typeform", fixture: "typeform/testdata/nps_response.json"}
	begin := time.Now()
	for i := range n {
		body := strings.ReplaceAll(string(sample), "01HQ3RZ1AJ8G1XK2M5T7V9B0CD", fmt.Sprintf("01HQ3RZ1AJ8G1XK2M5T7V%05d", i))
		body = strings.ReplaceAll(body, "01hq3rz0w4kq8v2c6n9d1f5g7h", fmt.Sprintf("01hq3rz0w4kq8v2c6n9d1%05d", i))
		if code, acc := post(t, st, tf, d, []byte(body), false); code != http.StatusAccepted || acc.Quarantined == 0 || len(acc.EventIDs) != 0 {
			t.Fatalf("response %d: %d %+v, want 202 with everything quarantined", i, code, acc)
		}
	}
	t.Logf("%d responses quarantined in %s", n, time.Since(begin).Round(time.Millisecond))
	st.Stop()

	writeConfig(t, cfgDir, "nps_ref: nps")
	st = startWith(t, state, "", adjust)
	defer st.Stop()
	st.Meter().Reset()

	begin = time.Now()
	plan := bulkReplay(t, st, ingest.BulkRequest{Channel: "typeform", DryRun: true, Limit: 100})
	if plan.Matched != n || plan.Accepted != n || plan.Remaining != 0 || plan.Events < n || len(plan.ByReason) != 1 || plan.ByReason[0].Accepted != n {
		t.Fatalf("dry run: %d matched, %d accepted, %d events, %d reasons (first %+v)", plan.Matched, plan.Accepted, plan.Events, len(plan.ByReason), plan.ByReason[0])
	}
	if none := bulkReplay(t, st, ingest.BulkRequest{Channel: "typeform", Reason: "no such reason", DryRun: true}); none.Matched != 0 || none.Examined != n {
		t.Fatalf("reason filter: %+v", none)
	}
	t.Logf("dry run over %d rows in %s", n, time.Since(begin).Round(time.Millisecond))
	idle(t, st)
	if put := st.Meter().Snapshot()["eventbridge events put"]; put != 0 {
		t.Fatalf("the dry run put %d events", put)
	}

	begin = time.Now()
	done := bulkReplay(t, st, ingest.BulkRequest{Channel: "typeform", Limit: 100})
	if done.Matched != n || done.Accepted != n || done.Events != plan.Events || len(done.Failed) != 0 {
		t.Fatalf("replay: %+v, want what the dry run said: %+v", done, plan)
	}
	t.Logf("replayed %d rows (%d events) in %s", n, done.Events, time.Since(begin).Round(time.Millisecond))
	idle(t, st)
	// Downstream functions publish what the responses cause (a detractor's
	// failure), so the bus carries at least the replayed events.
	put := st.Meter().Snapshot()["eventbridge events put"]
	if put < done.Events {
		t.Fatalf("the replay put %d events, want at least %d", put, done.Events)
	}

	again := bulkReplay(t, st, ingest.BulkRequest{Channel: "typeform"})
	idle(t, st)
	if again.Matched != 0 || again.Events != 0 || st.Meter().Snapshot()["eventbridge events put"] != put {
		t.Fatalf("a second replay: %+v, %d events put in all, %d before", again, st.Meter().Snapshot()["eventbridge events put"], put)
	}
	if left := badRows(t, st); len(left) != 0 {
		t.Fatalf("%d rows still quarantined", len(left))
	}
	var page ingest.BadRowsPage
	if code := apiCall(t, st, "GET", "/v1/badrows?state=replayed&limit=5", nil, &page); code != 200 || len(page.BadRows) != 5 {
		t.Fatalf("replayed rows: %d %d", code, len(page.BadRows))
	}
	for _, r := range page.BadRows {
		if r.Replays != 1 || len(r.History) != 1 || r.History[0].Published == 0 || r.History[0].By == "" {
			t.Fatalf("row does not record its replay: %+v", r)
		}
	}
	// A replayed row replayed again by id publishes nothing.
	var res ingest.ReplayResult
	if code := apiCall(t, st, "POST", "/v1/badrows/"+page.BadRows[0].ID+"/replay", nil, &res); code != 200 || len(res.Published) != 0 {
		t.Fatalf("replaying a replayed row: %d %+v", code, res)
	}
	idle(t, st)
	if now := st.Meter().Snapshot()["eventbridge events put"]; now != put {
		t.Fatalf("%d events put after replaying a replayed row, %d before", now, put)
	}
}

// sendAs posts an in-house event signed with secret at the stack's time at.
func sendAs(t *testing.T, st *localstack.Stack, secret, id string, at time.Time) int {
	t.Helper()
	body := fmt.Sprintf(`{"type":"order.created","customer":{"email":"%s@example.com"},"occurred_at":"%s"}`, id, at.UTC().Format(time.RFC3339))
	key, err := standardwebhooks.DecodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
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
	return resp.StatusCode
}

// The provider rotates the in-house app's signing secret and OCX keeps the
// old one: every delivery is answered 401. The ingest function's tallies
// carry the rejections to the rules function, and the platform team's
// Slack hears which channel within two minutes. Once OCX holds the new
// secret, deliveries verify again and the failure resolves.
func TestStaleSecretAlertsThePlatformTeam(t *testing.T) {
	h := &hook{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	offset := &atomic.Int64{}
	base := testNow().UTC().Truncate(time.Minute)
	clock := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	state := t.TempDir()
	start := func(appSecret string) *localstack.Stack {
		st, err := localstack.Start(context.Background(), localstack.Config{
			HTTPAddr: "127.0.0.1:0", StateDir: state, SlackURL: srv.URL, APIToken: "test-token",
			RollupEvery: time.Hour, EmailFrom: localstack.DefaultFrom, Secrets: map[string]string{"app": appSecret},
			Log: quietLog(), Now: clock,
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	rotated := standardwebhooks.EncodeSecret([]byte("the provider's rotated key 0042"))
	tick := func(st *localstack.Stack) {
		t.Helper()
		idle(t, st)
		if err := st.Tick(context.Background(), "rule-timers"); err != nil {
			t.Fatal(err)
		}
		flushNotifications(t, st)
	}
	failure := func(st *localstack.Stack) (events.Failure, bool) {
		t.Helper()
		var page struct {
			Failures []struct {
				events.Failure
				State string `json:"state"`
			} `json:"failures"`
		}
		if code := apiCall(t, st, "GET", "/v1/failures?rule=intake.signature_rejected", nil, &page); code != 200 {
			t.Fatalf("failures: %d", code)
		}
		if len(page.Failures) == 0 {
			return events.Failure{}, false
		}
		f := page.Failures[0].Failure
		return f, page.Failures[0].State == "resolved"
	}

	st := start(secret)
	// Minute 0 and the start of minute 1: every delivery signed with the
	// rotated key is refused.
	sent := 0
	for m := range 2 {
		for i := range 4 {
			offset.Store(int64(time.Duration(m)*time.Minute + time.Duration(10+i)*time.Second))
			if code := sendAs(t, st, rotated, fmt.Sprintf("rot_%d_%d", m, i), clock()); code != http.StatusUnauthorized {
				t.Fatalf("delivery signed with the rotated key: %d, want 401", code)
			}
			sent++
		}
	}
	tick(st)
	f, _ := failure(st)
	if f.ID == "" {
		t.Fatalf("no intake.signature_rejected failure after %d refused deliveries over %s", sent, time.Duration(offset.Load()))
	}
	// Which channel, since when, how many: the evidence is the tally.
	if f.Team != "platform" || len(f.Evidence) != 1 || f.Evidence[0].Channel != "app" || !f.Evidence[0].OccurredAt.Equal(base) ||
		fmt.Sprint(f.Evidence[0].Attributes["rejected_signature"]) != "4" || f.Runbook == "" {
		t.Fatalf("failure %+v", f)
	}
	var alert string
	for _, p := range h.accepted() {
		b, _ := json.Marshal(p.Blocks)
		if strings.Contains(p.Text, "intake.signature_rejected") && strings.Contains(p.Text, "team Platform") && strings.Contains(string(b), "channel=app") && strings.Contains(string(b), "rejected_signature: 4") {
			alert = string(b)
		}
	}
	if alert == "" {
		t.Fatalf("platform Slack did not hear of channel app: %+v", h.accepted())
	}
	t.Logf("alert at +%s: %s", time.Duration(offset.Load()), alert)
	// The channel health view says the same: the first minute's 4
	// rejections (the second's are still being counted), no accepted
	// delivery ever, and the open failure.
	var app channelhealth.Health
	if code := apiCall(t, st, "GET", "/v1/channels/app", nil, &app); code != 200 || app.Counts.RejectedSignature != 4 || app.Counts.Accepted != 0 ||
		app.LastAcceptedAt != nil || len(app.Failures) != 1 || app.Failures[0].Rule != "intake.signature_rejected" {
		t.Fatalf("channel app: %d %+v", code, app)
	}
	st.Stop()

	// OCX takes the rotated secret; deliveries verify, the failure resolves.
	st = start(rotated)
	defer st.Stop()
	for m := 2; m < 9; m++ {
		offset.Store(int64(time.Duration(m)*time.Minute + 5*time.Second))
		if code := sendAs(t, st, rotated, fmt.Sprintf("ok_%d", m), clock()); code != http.StatusAccepted {
			t.Fatalf("delivery after the fix: %d, want 202", code)
		}
		tick(st)
		if _, resolved := failure(st); resolved {
			t.Logf("resolved at +%s", time.Duration(offset.Load()))
			h.failIf(t)
			var page channelhealth.Page
			if code := apiCall(t, st, "GET", "/v1/channels?window=10m", nil, &page); code != 200 || len(page.Channels) < 2 {
				t.Fatalf("channels: %d %+v", code, page)
			}
			for _, c := range page.Channels {
				// Minute 1's rejections were held by the stopped stack and are
				// lost with it, as when Lambda recycles an environment.
				switch {
				case c.ID == "app" && (c.Counts.RejectedSignature != 4 || c.Counts.Accepted != m-2 || c.LastAcceptedAt == nil || len(c.Failures) != 0):
					t.Fatalf("channel app after the fix: %+v", c)
				case c.ID != "app" && (c.LastAcceptedAt != nil || c.Counts != channelhealth.Counts{}):
					t.Fatalf("channel %s never sent: %+v", c.ID, c)
				}
			}
			return
		}
	}
	t.Fatal("intake.signature_rejected did not resolve after the secret was fixed")
}

// A channel that delivered steadily and then stops raises the silence
// failure once its floor has passed; a channel that never delivered does
// not, and the failure resolves when the channel delivers again.
func TestSilentChannelAfterASteadyStream(t *testing.T) {
	st, h, offset, clock := notifyStack(t, nil)
	at := func(d time.Duration) time.Time {
		offset.Store(int64(d))
		return clock()
	}
	// Three minutes of deliveries; the fourth request turns the minute
	// and publishes the third.
	for m := range 4 {
		if code := sendAs(t, st, secret, fmt.Sprintf("steady_%d", m), at(time.Duration(m)*time.Minute+5*time.Second)); code != http.StatusAccepted {
			t.Fatalf("delivery %d: %d", m, code)
		}
	}
	silent := func() (string, int) {
		t.Helper()
		idle(t, st)
		if err := st.Tick(context.Background(), "rule-timers"); err != nil {
			t.Fatal(err)
		}
		var page struct {
			Failures []struct {
				State    string            `json:"state"`
				Evidence []events.Evidence `json:"evidence"`
			} `json:"failures"`
		}
		if code := apiCall(t, st, "GET", "/v1/failures?rule=intake.channel_silent", nil, &page); code != 200 {
			t.Fatalf("failures: %d", code)
		}
		if len(page.Failures) == 0 {
			return "", 0
		}
		return page.Failures[0].State, len(page.Failures)
	}
	at(5 * time.Hour)
	if state, _ := silent(); state != "" {
		t.Fatalf("silent after 5 hours: %s", state)
	}
	at(3*time.Minute + 6*time.Hour + time.Minute)
	state, n := silent()
	if state != "open" || n != 1 {
		t.Fatalf("after six hours of silence: %q, %d failures (only app ever delivered)", state, n)
	}
	// The app delivers again: the next minute's tally clears it.
	sendAs(t, st, secret, "back_1", at(6*time.Hour+10*time.Minute))
	sendAs(t, st, secret, "back_2", at(6*time.Hour+11*time.Minute))
	if state, _ := silent(); state != "resolved" {
		t.Fatalf("after the channel delivered again: %q", state)
	}
	flushNotifications(t, st)
	h.failIf(t)
}
