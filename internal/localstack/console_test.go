package localstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/browsertest"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/demo"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/localstack"
)

// The console in a real browser against the local stack with demo data:
// console/test/browser.mjs signs in, checks every page's figures against
// the API, acknowledges, assigns, notes and resolves a failure, unmerges
// and erases customers, replays a bad row, restores a chart from its URL
// and downloads its CSV, runs axe-core on every page and writes screenshots
// at desktop and phone widths to .build/console-screenshots (or
// OCX_CONSOLE_SCREENSHOTS). Here, afterwards: the steps it took are in the
// failure's history, and Slack's message for the failure's group is
// updated by the notify path with who acknowledged and resolved it.
func TestConsoleInBrowser(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if err := browsertest.Ready(filepath.Join(root, "console")); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("OCX_CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(root, ".build/console-screenshots")
	}
	_ = os.RemoveAll(shots)

	began := time.Now()
	end := time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)
	var offset atomic.Int64
	clock := func() time.Time { return end.Add(time.Duration(offset.Load())) }
	// A second token with the analyst role only.
	t.Setenv("OCX_ANALYST_TOKEN", "analyst-token")
	sink := &slackSink{}
	slack := httptest.NewServer(sink)
	defer slack.Close()
	st := startWith(t, t.TempDir(), slack.URL, func(c *localstack.Config) { c.RollupEvery = time.Hour; c.Now = clock })
	defer st.Stop()

	chans, err := demo.Channels(config.Shipped, func(k string) string {
		if k == channel.SecretEnv("app") {
			return secret
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	reqs := demo.Story(7, end, 30, 25)
	// Beside the story: a customer the app knows first by email, then by
	// phone, then by both (a merge to undo); one to erase; and an answer
	// out of scale, quarantined as a bad row.
	const mergeEmail, mergePhone = "merge.me@example.com", "+14155550142"
	extra := []struct {
		id   string
		at   time.Duration
		body string
	}{
		{"msg_console_1", -72 * time.Hour, `{"type":"session.started","customer":{"email":"` + mergeEmail + `"},"attributes":{}}`},
		{"msg_console_2", -48 * time.Hour, `{"type":"session.started","customer":{"phone":"` + mergePhone + `"},"attributes":{}}`},
		{"msg_console_3", -24 * time.Hour, `{"type":"survey.responded","customer":{"email":"` + mergeEmail + `","phone":"` + mergePhone + `"},"attributes":{"survey":"nps","score":2}}`},
		{"msg_console_4", -30 * time.Hour, `{"type":"session.started","customer":{"email":"erase.me@example.com"},"attributes":{}}`},
	}
	// More survey answers than the small story gives, so the score chart
	// has weeks to draw and intervals to shade: nine a week, mixed.
	for i := range 36 {
		at := end.Add(-time.Duration(27-i*27/36)*24*time.Hour - time.Duration(i%5)*time.Hour)
		body := fmt.Sprintf(`{"type":"survey.responded","occurred_at":%q,"customer":{"email":"answer.%d@example.com"},"attributes":{"survey":"nps","score":%d}}`,
			at.Format(time.RFC3339), i, []int{10, 9, 8, 3, 10, 7, 9, 6, 10}[i%9])
		reqs = append(reqs, demo.Request{At: at, Channel: "app", What: "survey.responded", ContentType: "application/json",
			Header: map[string]string{"webhook-id": fmt.Sprintf("msg_console_nps_%d", i)}, Body: []byte(body)})
	}
	stats := demo.Sender{Base: st.URL, Channels: chans, Workers: 4, Now: clock}.Send(context.Background(), reqs)
	if stats.Failed > 0 {
		t.Fatalf("demo: %+v", stats)
	}
	for _, e := range extra {
		at := end.Add(e.at)
		body := strings.Replace(e.body, `"attributes"`, `"occurred_at":"`+at.Format(time.RFC3339)+`","attributes"`, 1)
		if code := sendApp(t, st, chans["app"], e.id, body, clock()); code != 202 {
			t.Fatalf("%s: %d", e.id, code)
		}
		idle(t, st)
	}
	bad := `{"type":"survey.responded","customer":{"email":"bad.row@example.com"},"occurred_at":"` +
		end.Add(-time.Hour).Format(time.RFC3339) + `","attributes":{"survey":"nps","score":42}}`
	if code := sendApp(t, st, chans["app"], "msg_console_bad", bad, clock()); code != 400 {
		t.Fatalf("an out-of-scale answer: %d, want 400", code)
	}
	ctx := context.Background()
	idle(t, st)
	if err := st.Tick(ctx, "rule-timers"); err != nil {
		t.Fatal(err)
	}
	idle(t, st)
	if err := st.Tick(ctx, "rollup"); err != nil {
		t.Fatal(err)
	}
	// The first Slack messages go out once group_wait has passed.
	offset.Store(int64(time.Minute))
	flushNotifications(t, st)
	t.Logf("demo loaded and settled in %s; %d Slack messages", time.Since(began).Round(time.Second), sink.count())

	an := newAnalyst(t, st)
	var page failure.Page
	if code, body := an.get("/v1/failures?state=open&limit=100", ""); code != 200 || json.Unmarshal(body, &page) != nil {
		t.Fatalf("failures: %d %s", code, body)
	}
	// The target: a failure with a customer whose Slack message names it,
	// in the smallest alert group (team and rule), so the group's resolved
	// follow-up lists it.
	groupSize := map[string]int{}
	for _, f := range page.Failures {
		groupSize[f.Team+"/"+f.RuleID]++
	}
	target, smallest := "", 0
	for _, f := range page.Failures {
		if n := groupSize[f.Team+"/"+f.RuleID]; f.CustomerID != "" && strings.Contains(slackText(sink), f.ID) && (target == "" || n < smallest) {
			target, smallest = f.ID, n
		}
	}
	if target == "" {
		t.Fatalf("no open failure with a customer whose Slack message names it among %d", len(page.Failures))
	}
	// The demo customer seen on the most channels, for the timeline.
	rich, richChannels := "", 0
	for _, f := range page.Failures {
		var v customer.View
		if f.CustomerID == "" || call(t, st, "GET", "/v1/customers/"+f.CustomerID, &v) != 200 {
			continue
		}
		seen := map[string]bool{}
		for _, i := range v.Interactions {
			seen[i.Channel] = true
		}
		if len(seen) > richChannels {
			rich, richChannels = v.ID, len(seen)
		}
	}
	if richChannels < 2 {
		t.Fatalf("no customer of an open failure was seen on two channels")
	}
	var merged, erase customer.View
	if code := lookup(t, st, "email:"+mergeEmail, &merged); code != 200 || len(merged.Merges) != 1 {
		t.Fatalf("the merged customer: %d, %d merges", code, len(merged.Merges))
	}
	if code := lookup(t, st, "email:erase.me@example.com", &erase); code != 200 {
		t.Fatalf("the customer to erase: %d", code)
	}
	var rows ingest.BadRowsPage
	if code := call(t, st, "GET", "/v1/badrows?state=quarantined", &rows); code != 200 || len(rows.BadRows) == 0 {
		t.Fatalf("bad rows: %d, %d rows", code, len(rows.BadRows))
	}

	result := filepath.Join(t.TempDir(), "result.json")
	env := []string{"OCX_URL=" + st.URL, "OCX_TOKEN=test-token", "OCX_SHOTS=" + shots, "OCX_RESULT=" + result,
		"OCX_FAILURE=" + target, "OCX_CUSTOMER_EMAIL=" + mergeEmail, "OCX_ABSORBED=" + merged.Merges[0].Absorbed,
		"OCX_ERASE=" + erase.ID, "OCX_RICH_CUSTOMER=" + rich, "OCX_BADROW=" + rows.BadRows[0].ID,
		"OCX_FROM=" + end.AddDate(0, 0, -30).Format(time.DateOnly), "OCX_TO=" + end.AddDate(0, 0, 1).Format(time.DateOnly)}
	var out bytes.Buffer
	browserBegan := time.Now()
	before := sink.count()
	err = browsertest.Run(ctx, filepath.Join(root, "console"), "test/browser.mjs", env, &out, 5*time.Minute)
	t.Logf("browser test (%s):\n%s", time.Since(browserBegan).Round(time.Second), out.String())
	if raw, rerr := os.ReadFile(result); rerr == nil {
		var r struct {
			Screenshots []string            `json:"screenshots"`
			Axe         map[string][]string `json:"axe"`
		}
		_ = json.Unmarshal(raw, &r)
		t.Logf("screenshots in %s: %d files; axe (minor and moderate findings allowed): %v", shots, len(r.Screenshots), r.Axe)
	}
	if err != nil {
		t.Fatalf("the browser test failed: %v (screenshot of the failing page: %s)", err, filepath.Join(shots, "failed.png"))
	}

	// What the browser did is the failure's history, and the notify path
	// updates the group's Slack message with it.
	var d failure.Detail
	if code, body := an.get("/v1/failures/"+url.PathEscape(target), ""); code != 200 || json.Unmarshal(body, &d) != nil {
		t.Fatalf("failure: %d %s", code, body)
	}
	var steps []string
	for _, h := range d.History {
		steps = append(steps, h.State+" by "+h.By)
	}
	if got := strings.Join(steps, "; "); !strings.HasSuffix(got, "acknowledged by console:Dana Lead; resolved by console:Dana Lead") {
		t.Errorf("history %q", got)
	}
	// The group's resolved follow-up goes out once every failure of it is
	// resolved: the console resolves the rest of the target's group too.
	for _, f := range page.Failures {
		if f.ID != target && f.Team == d.Team && f.RuleID == d.RuleID {
			if code := resolveAs(t, st, f.ID, "Sam Agent"); code != 200 {
				t.Fatalf("resolve %s: %d", f.ID, code)
			}
		}
	}
	offset.Store(int64(10 * time.Minute))
	flushNotifications(t, st)
	if sink.count() == before {
		t.Fatal("no Slack message followed the console's acknowledge and resolve")
	}
	if text := slackTextFrom(sink, before); !strings.Contains(text, "console:Dana Lead") || !strings.Contains(text, target) {
		t.Errorf("the Slack update does not say who acted in the console on %s:\n%s", target, text)
	}
	// Analysts may read but not erase, unmerge or replay.
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v1/customers/" + merged.ID, 200},
		{"DELETE", "/v1/customers/" + merged.ID, 403},
		{"POST", "/v1/customers/" + merged.Merges[0].Absorbed + "/unmerge", 403},
		{"POST", "/v1/badrows/" + rows.BadRows[0].ID + "/replay", 403},
	} {
		req, _ := http.NewRequest(c.method, st.URL+c.path, nil)
		req.Header.Set("Authorization", "Bearer analyst-token")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("analyst %s %s: %d, want %d", c.method, c.path, res.StatusCode, c.want)
		}
	}
	t.Logf("console test took %s", time.Since(began).Round(time.Second))
}

// resolveAs resolves a failure through the API as the console does.
func resolveAs(t *testing.T, st *localstack.Stack, id, user string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", st.URL+"/v1/failures/"+url.PathEscape(id)+"/resolve", strings.NewReader(`{"note":"done"}`))
	req.Header.Set("Authorization", "Bearer test-token")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-OCX-User", user)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// sendApp posts an in-house app event signed at now.
func sendApp(t *testing.T, st *localstack.Stack, ch demo.Channel, id, body string, now time.Time) int {
	t.Helper()
	req, err := ch.Sign(st.URL, demo.Request{Channel: "app", ContentType: "application/json", Header: map[string]string{"webhook-id": id}, Body: []byte(body)}, now)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest("POST", req.URL, bytes.NewReader(req.Body))
	r.Header = req.Header
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

func slackText(s *slackSink) string { return slackTextFrom(s, 0) }

// slackTextFrom is every message from the n-th on, as JSON.
func slackTextFrom(s *slackSink, n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, p := range s.posts[n:] {
		raw, _ := json.Marshal(p)
		fmt.Fprintln(&b, string(raw))
	}
	return b.String()
}
