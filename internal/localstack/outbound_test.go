package localstack_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	swlib "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/outbound"
)

const outboundSecret = "whsec_b2N4LW91dGJvdW5kLXRlc3Qtc2VjcmV0LWtleQ=="

// webhookReceiver is a subscriber's endpoint: it verifies each delivery
// with the standard-webhooks library and answers what up says.
type webhookReceiver struct {
	t    *testing.T
	now  func() time.Time
	mu   sync.Mutex
	up   func(id string, seen int) int
	log  []receipt
	seen map[string]int
}

type receipt struct {
	id, typ string
	status  int
}

func (rc *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	wh, err := swlib.NewWebhook(outboundSecret)
	if err == nil {
		// The library checks the timestamp against the wall clock; the
		// stack runs on the test's, so that is checked apart.
		err = wh.VerifyIgnoringTimestamp(body, r.Header)
	}
	ts, _ := strconv.ParseInt(r.Header.Get(outbound.HeaderTimestamp), 10, 64)
	var p outbound.Payload
	_ = json.Unmarshal(body, &p)
	id := r.Header.Get(outbound.HeaderID)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch {
	case err != nil:
		rc.t.Errorf("delivery %s does not verify with the standard-webhooks library: %v", id, err)
	case time.Unix(ts, 0).Sub(rc.now()).Abs() > time.Minute:
		rc.t.Errorf("delivery %s signed at %s, the stack's clock says %s", id, time.Unix(ts, 0).UTC(), rc.now().UTC())
	}
	rc.seen[id]++
	status := rc.up(id, rc.seen[id])
	rc.log = append(rc.log, receipt{id: id, typ: p.Type, status: status})
	w.WriteHeader(status)
}

func (rc *webhookReceiver) receipts() []receipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receipt(nil), rc.log...)
}

// accepted counts the 2xx answers each delivery got.
func (rc *webhookReceiver) accepted() map[string]int {
	out := map[string]int{}
	for _, r := range rc.receipts() {
		if r.status < 300 {
			out[r.id]++
		}
	}
	return out
}

// outboundStack starts a stack on a clock the test moves, sending
// outbound webhooks to a receiver.
func outboundStack(t *testing.T, up func(id string, seen int) int) (*localstack.Stack, *webhookReceiver, *atomic.Int64, func() time.Time) {
	t.Helper()
	var offset atomic.Int64
	now := func() time.Time { return testNow().Add(time.Duration(offset.Load())) }
	rc := &webhookReceiver{t: t, now: now, up: up, seen: map[string]int{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	st := startWith(t, t.TempDir(), "", func(c *localstack.Config) {
		c.Now = now
		c.OutboundURL = srv.URL + "/ocx-events"
		c.OutboundSecret = outboundSecret
	})
	t.Cleanup(st.Stop)
	return st, rc, &offset, now
}

// operator calls the API as an operator and decodes a 2xx answer into out.
func operator(t *testing.T, st *localstack.Stack, method, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, st.URL+path, nil)
	req.Header.Set("Authorization", "Bearer test-token")
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

type deliveryPage struct {
	Deliveries []outbound.Delivery `json:"deliveries"`
}

func outboundDeliveries(t *testing.T, st *localstack.Stack, status string) []outbound.Delivery {
	t.Helper()
	var page deliveryPage
	if code := operator(t, st, "GET", "/v1/outbound/deliveries?endpoint=failures&status="+status, &page); code != 200 {
		t.Fatalf("list %s deliveries: %d", status, code)
	}
	return page.Deliveries
}

func outboundEndpoint(t *testing.T, st *localstack.Stack) outbound.EndpointState {
	t.Helper()
	var res struct {
		Endpoints []outbound.Endpoint `json:"endpoints"`
	}
	if code := operator(t, st, "GET", "/v1/outbound/endpoints", &res); code != 200 || len(res.Endpoints) != 1 || res.Endpoints[0].ID != "failures" {
		t.Fatalf("endpoints: %d %+v", code, res)
	}
	if !res.Endpoints[0].Active {
		t.Fatal("the failures subscription is inactive although OCX_OUTBOUND_URL is set")
	}
	return res.Endpoints[0].State
}

// A detractor's failure reaches the subscribed endpoint signed; the
// endpoint answers 500, then 200 to the retry the wake-up brings: it has
// the delivery exactly once, and nothing is sent after.
func TestOutboundWebhookRetriedOnceThenDelivered(t *testing.T) {
	ctx := context.Background()
	st, rc, offset, now := outboundStack(t, func(_ string, seen int) int {
		if seen == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	detractorAt(t, st, "msg_out_1", "u-out-1", now())
	eventually(t, "first attempt", 15*time.Second, func() bool { return len(rc.receipts()) >= 1 })
	idle(t, st)
	first := rc.receipts()
	if len(first) != 1 || first[0].status != 500 || first[0].typ != "failure.detected" {
		t.Fatalf("before the retry the endpoint saw %+v, want one failure.detected answered 500", first)
	}
	pending := outboundDeliveries(t, st, outbound.StatusPending)
	if len(pending) != 1 || pending[0].ID != first[0].id || pending[0].LastStatus != 500 {
		t.Fatalf("pending deliveries %+v", pending)
	}
	offset.Store(int64(time.Minute))
	deliverWakeups(ctx, t, st)
	eventually(t, "the retry", 15*time.Second, func() bool { return len(rc.accepted()) == 1 })
	// Long after, with every wake-up handed out, nothing more arrives.
	for _, later := range []time.Duration{time.Hour, 24 * time.Hour, 4 * 24 * time.Hour} {
		offset.Store(int64(later))
		deliverWakeups(ctx, t, st)
	}
	idle(t, st)
	if got := rc.receipts(); len(got) != 2 || got[1].id != first[0].id || got[1].status != 200 {
		t.Fatalf("the endpoint saw %+v, want the same delivery answered 500 then 200", got)
	}
	if acc := rc.accepted(); acc[first[0].id] != 1 {
		t.Fatalf("accepted %v, want the delivery once", acc)
	}
	var view outbound.DeliveryView
	if code := operator(t, st, "GET", "/v1/outbound/deliveries/"+first[0].id, &view); code != 200 {
		t.Fatalf("delivery: %d", code)
	}
	if view.Status != outbound.StatusDelivered || len(view.AttemptLog) != 2 || view.AttemptLog[0].Status != 500 || view.AttemptLog[1].Status != 200 {
		t.Fatalf("delivery %+v", view)
	}
	if d := outboundDeliveries(t, st, outbound.StatusDelivered); len(d) != 1 {
		t.Fatalf("delivered %+v", d)
	}
}

// An endpoint that stays down is disabled after a long run of failures;
// deliveries for it, then and later, are listed failed; once an operator
// enables it, replaying them delivers each exactly once.
func TestOutboundEndpointDisabledThenReplayed(t *testing.T) {
	ctx := context.Background()
	var up atomic.Bool
	st, rc, offset, now := outboundStack(t, func(string, int) int {
		if up.Load() {
			return http.StatusNoContent
		}
		return http.StatusServiceUnavailable
	})
	detractorAt(t, st, "msg_down_1", "u-down-1", now())
	eventually(t, "first attempt", 15*time.Second, func() bool { return len(rc.receipts()) >= 1 })
	idle(t, st)
	var step time.Duration
	for i := 0; i < 30 && !outboundEndpoint(t, st).Disabled; i++ {
		step += 4 * time.Hour
		offset.Store(int64(step))
		deliverWakeups(ctx, t, st)
	}
	es := outboundEndpoint(t, st)
	if !es.Disabled || es.ConsecutiveFailures < outbound.DisableMinFailures || es.DisabledAt.Sub(testNow()) < outbound.DisableAfter {
		t.Fatalf("after %s down the endpoint is %+v", step, es)
	}
	tries := len(rc.receipts())
	failed := outboundDeliveries(t, st, outbound.StatusFailed)
	if len(failed) != 1 || !strings.Contains(failed[0].LastError, "endpoint disabled") {
		t.Fatalf("failed deliveries %+v", failed)
	}
	// While disabled, a new failure is recorded failed and not sent.
	detractorAt(t, st, "msg_down_2", "u-down-2", now())
	eventually(t, "the second delivery listed failed", 15*time.Second, func() bool { return len(outboundDeliveries(t, st, outbound.StatusFailed)) == 2 })
	if len(rc.receipts()) != tries {
		t.Fatal("a disabled endpoint was sent a delivery")
	}
	if code := operator(t, st, "POST", "/v1/outbound/endpoints/failures/replay-failed", nil); code != http.StatusConflict {
		t.Fatalf("replay to a disabled endpoint: %d, want 409", code)
	}
	up.Store(true)
	if code := operator(t, st, "POST", "/v1/outbound/endpoints/failures/enable", nil); code != 200 {
		t.Fatalf("enable: %d", code)
	}
	var replayed struct {
		Replayed int  `json:"replayed"`
		More     bool `json:"more"`
	}
	if code := operator(t, st, "POST", "/v1/outbound/endpoints/failures/replay-failed", &replayed); code != http.StatusAccepted || replayed.Replayed != 2 || replayed.More {
		t.Fatalf("replay-failed: %d %+v", code, replayed)
	}
	eventually(t, "both replayed", 15*time.Second, func() bool { return len(rc.accepted()) == 2 })
	offset.Store(int64(step + 24*time.Hour))
	deliverWakeups(ctx, t, st)
	idle(t, st)
	for id, n := range rc.accepted() {
		if n != 1 {
			t.Fatalf("delivery %s accepted %d times, want once", id, n)
		}
	}
	if f, d := outboundDeliveries(t, st, outbound.StatusFailed), outboundDeliveries(t, st, outbound.StatusDelivered); len(f) != 0 || len(d) != 2 {
		t.Fatalf("after the replay: failed %+v, delivered %+v", f, d)
	}
	if es := outboundEndpoint(t, st); es.Disabled || es.ConsecutiveFailures != 0 {
		t.Fatalf("after the replay the endpoint is %+v", es)
	}
}

// syncBuffer is a log sink tests read while the stack writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// With no OCX_OUTBOUND_URL the stack prints each outbound webhook to its
// console, signed with the demo secret it printed at start, and counts it
// delivered.
func TestOutboundWebhookPrintedWithoutAURL(t *testing.T) {
	logs := &syncBuffer{}
	var offset atomic.Int64
	now := func() time.Time { return testNow().Add(time.Duration(offset.Load())) }
	st := startWith(t, t.TempDir(), "", func(c *localstack.Config) {
		c.Now = now
		c.Log = slog.New(slog.NewJSONHandler(logs, nil))
	})
	t.Cleanup(st.Stop)
	if !strings.Contains(logs.String(), localstack.DemoOutboundSecret()) {
		t.Fatal("the demo outbound secret was not printed at start")
	}
	detractorAt(t, st, "msg_console_1", "u-console-1", now())
	eventually(t, "a delivered webhook", 15*time.Second, func() bool {
		return len(outboundDeliveries(t, st, outbound.StatusDelivered)) == 1
	})
	var line map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"outbound webhook (set OCX_OUTBOUND_URL`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line["type"] != "failure.detected" || line["signature_verified"] != true || line["webhook_id"] == "" {
		t.Fatalf("console line %v", line)
	}
}
