package localstack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/api"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/rollup"
)

// slackSink is a stand-in Slack: it accepts incoming-webhook posts and
// checks each parses as one.
type slackSink struct {
	mu    sync.Mutex
	posts []map[string]any
	bad   []string
}

func (s *slackSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var msg map[string]any
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Header.Get("Content-Type") != "application/json":
		s.bad = append(s.bad, "content type "+r.Header.Get("Content-Type"))
	case json.Unmarshal(body, &msg) != nil:
		s.bad = append(s.bad, "not JSON: "+string(body))
	default:
		text, _ := msg["text"].(string)
		blocks, _ := msg["blocks"].([]any)
		if text == "" || len(blocks) == 0 {
			s.bad = append(s.bad, "no text fallback or no blocks: "+string(body))
		}
		s.posts = append(s.posts, msg)
	}
	_, _ = w.Write([]byte("ok"))
}

func (s *slackSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.posts)
}

const secret = "whsec_ZTJlLXRlc3Qtc2VjcmV0LWtleS0xMjM0NTY3OA=="

func start(t *testing.T, stateDir, slackURL string) *localstack.Stack {
	t.Helper()
	return startWith(t, stateDir, slackURL, nil)
}

// startWith starts a stack, letting the test adjust its configuration.
func startWith(t *testing.T, stateDir, slackURL string, adjust func(*localstack.Config)) *localstack.Stack {
	t.Helper()
	cfg := localstack.Config{
		HTTPAddr: "127.0.0.1:0", StateDir: stateDir, SlackURL: slackURL, APIToken: "test-token",
		RollupEvery: 200 * time.Millisecond, EmailFrom: localstack.DefaultFrom,
		Secrets: map[string]string{"app": secret},
		Log:     slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if adjust != nil {
		adjust(&cfg)
	}
	if cfg.Now == nil {
		cfg.Now = testNow
	}
	st, err := localstack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	name := t.Name()
	running.Store(name, time.Now())
	t.Cleanup(func() { running.Delete(name) })
	return st
}

// running holds the tests with a stack up, for the watchdog.
var running sync.Map

// watchdogAfter is when the package gives up on itself: well before
// `make test`'s -timeout, whose report leads with the names of the tests
// running and then buries them under every goroutine's stack.
const watchdogAfter = 22 * time.Minute

// TestMain stops a package run that takes too long with the goroutines
// first and the tests still running last, where a truncated log keeps them.
func TestMain(m *testing.M) {
	dog := time.AfterFunc(watchdogAfter, func() {
		buf := make([]byte, 16<<20)
		os.Stderr.Write(buf[:runtime.Stack(buf, true)])
		var names []string
		running.Range(func(k, v any) bool {
			names = append(names, fmt.Sprintf("%s (up %s)", k, time.Since(v.(time.Time)).Round(time.Second)))
			return true
		})
		fmt.Fprintf(os.Stderr, "\nlocalstack tests: stopped after %s; stacks still up for: %s\n", watchdogAfter, strings.Join(names, ", "))
		os.Exit(2)
	})
	code := m.Run()
	dog.Stop()
	os.Exit(code)
}

// idle waits for the stack's bus deliveries to settle; a stack that does
// not settle in three minutes fails the test that waited.
func idle(t testing.TB, st *localstack.Stack) {
	t.Helper()
	if err := st.Settle(context.Background(), 3*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// deliverWakeups hands over the wake-ups due by the stack's clock and
// waits for what they cause.
func deliverWakeups(ctx context.Context, t testing.TB, st *localstack.Stack) {
	t.Helper()
	if err := st.DeliverWakeups(ctx); err != nil {
		t.Fatal(err)
	}
}

func send(t *testing.T, st *localstack.Stack, id, body string, tamper bool) *http.Response {
	t.Helper()
	key, _ := standardwebhooks.DecodeSecret(secret)
	ts := testNow().Unix()
	sig := standardwebhooks.Sign(key, id, ts, []byte(body))
	if tamper {
		body = strings.Replace(body, `"score":3`, `"score":10`, 1)
	}
	req, _ := http.NewRequest("POST", st.URL+"/v1/webhooks/app", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", "v1,"+sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func npsSeries(t *testing.T, st *localstack.Stack, token string) (int, api.SeriesResponse) {
	t.Helper()
	from := testNow().UTC().Add(-2 * time.Hour).Format(time.RFC3339)
	to := testNow().UTC().Add(time.Hour).Format(time.RFC3339)
	req, _ := http.NewRequest("GET", st.URL+"/v1/metrics/nps?granularity=hour&from="+from+"&to="+to, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res api.SeriesResponse
	_ = json.NewDecoder(resp.Body).Decode(&res)
	return resp.StatusCode, res
}

func eventually(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sentMail reads what moto's SES kept (only the HTML part of two-part mail).
func sentMail(t testing.TB, moto string) []map[string]any {
	t.Helper()
	resp, err := http.Get(moto + "/moto-api/data.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var data map[string]map[string][]map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&data); err != nil {
		t.Fatal(err)
	}
	return data["ses"]["Message"]
}

// The walking skeleton end to end, over HTTP, the way a channel and an
// analyst use it: a signed NPS 3 becomes a Slack post, an email and an NPS
// point of -100 (n=1); a tampered one gets 401 and changes nothing; state
// survives a restart.
func TestWebhookToSlackEmailAndMetric(t *testing.T) {
	sink := &slackSink{}
	slackSrv := httptest.NewServer(sink)
	defer slackSrv.Close()
	stateDir := t.TempDir()
	var offset atomic.Int64
	st := startWith(t, stateDir, slackSrv.URL, func(c *localstack.Config) {
		c.Now = func() time.Time { return testNow().Add(time.Duration(offset.Load())) }
	})
	stopped := false
	defer func() {
		if !stopped {
			st.Stop()
		}
	}()

	resp, err := http.Get(st.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}

	body := fmt.Sprintf(`{"type":"survey.responded","customer":{"id":"u-1","email":"Ann@Example.com"},"occurred_at":%q,"attributes":{"survey":"nps","score":3}}`,
		testNow().UTC().Format(time.RFC3339))

	if r := send(t, st, "msg_tampered", body, true); r.StatusCode != 401 {
		t.Fatalf("tampered webhook: %d, want 401", r.StatusCode)
	}
	if r := send(t, st, "msg_1", body, false); r.StatusCode != 202 {
		t.Fatalf("signed webhook: %d, want 202", r.StatusCode)
	}
	// Past the route's group_wait, the notification schedule sends the group.
	idle(t, st)
	offset.Store(int64(time.Minute))
	eventually(t, "Slack post", 15*time.Second, func() bool { flushNotifications(t, st); return sink.count() >= 1 })
	eventually(t, "NPS point", 15*time.Second, func() bool {
		code, res := npsSeries(t, st, "test-token")
		pts := answered(res)
		return code == 200 && len(pts) == 1 && pts[0].Value == -100 && pts[0].N == 1
	})
	var mails []map[string]any
	eventually(t, "email in SES", 10*time.Second, func() bool { mails = sentMail(t, st.Moto); return len(mails) == 1 })
	if dest := fmt.Sprint(mails[0]["destinations"]); !strings.Contains(dest, "cx-support@example.com") {
		t.Fatalf("email went to %s", dest)
	}
	if subj := fmt.Sprint(mails[0]["subject"]); !strings.Contains(strings.ToLower(subj), "nps") && !strings.Contains(subj, "detractor") {
		t.Fatalf("email subject %q does not say what broke", subj)
	}

	// Redelivery: 200, and nothing is sent twice.
	if r := send(t, st, "msg_1", body, false); r.StatusCode != 200 {
		t.Fatalf("redelivery: %d, want 200", r.StatusCode)
	}
	if code, _ := npsSeries(t, st, ""); code != 401 {
		t.Fatalf("metrics without a token: %d, want 401", code)
	}
	idle(t, st)
	offset.Store(int64(10 * time.Minute))
	flushNotifications(t, st)
	sink.mu.Lock()
	posts, bad := len(sink.posts), sink.bad
	sink.mu.Unlock()
	if posts != 1 || len(bad) > 0 {
		t.Fatalf("Slack got %d posts (want 1 — the tampered and redelivered webhooks must send nothing); bad posts: %v", posts, bad)
	}
	if _, res := npsSeries(t, st, "test-token"); len(answered(res)) != 1 || answered(res)[0].N != 1 {
		t.Fatalf("after tampered and redelivered webhooks: %+v, want one answer", answered(res))
	}

	// Restart on the same state: the series is still there.
	st.Stop()
	stopped = true
	st2 := start(t, stateDir, slackSrv.URL)
	defer st2.Stop()
	code, res := npsSeries(t, st2, "test-token")
	if pts := answered(res); code != 200 || len(pts) != 1 || pts[0].Value != -100 {
		t.Fatalf("after restart: %d %+v", code, res)
	}
}

// answered drops the empty buckets a series reports between answers.
func answered(res api.SeriesResponse) []rollup.Point {
	var out []rollup.Point
	for _, p := range res.Points {
		if p.N > 0 {
			out = append(out, p)
		}
	}
	return out
}
