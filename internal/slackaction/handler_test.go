package slackaction

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/failure"
)

const (
	testSecret = "e3b0c44298fc1c149afbf4c8996fb924"
	group      = "grp_7f3a9c"
)

// recorder is the bus: it keeps what the failure service announces.
type recorder struct {
	mu  sync.Mutex
	evs []events.Event
}

func (r *recorder) Publish(_ context.Context, evs ...events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, evs...)
	return nil
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.evs {
		out = append(out, e.DetailType)
	}
	return out
}

// groupMap is a Groups over a fixed map.
type groupMap map[string][]string

func (g groupMap) Members(_ context.Context, key string) ([]string, error) { return g[key], nil }

// slackMessages stands in for response_url and keeps each post.
type slackMessages struct {
	mu     sync.Mutex
	posts  []map[string]any
	status int
}

func (s *slackMessages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &m) != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.posts = append(s.posts, m)
	if s.status != 0 {
		w.WriteHeader(s.status)
	}
}

func (s *slackMessages) all() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.posts...)
}

type fixture struct {
	t       *testing.T
	now     time.Time
	store   *failure.Memory
	bus     *recorder
	slack   *slackMessages
	server  *httptest.Server
	handler *Handler
}

// newFixture has group grp_7f3a9c of three open failures and one open
// failure outside it.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, now: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC), store: failure.NewMemory(), bus: &recorder{}, slack: &slackMessages{}}
	var open []events.Failure
	for _, id := range []string{"fail_a", "fail_b", "fail_c", "fail_other"} {
		open = append(open, failure.Opened(events.Failure{ID: id, RuleID: "nps.detractor", Team: "cx-support", DetectedAt: f.now.Add(-time.Hour)}, "rule:nps.detractor"))
	}
	f.store.Create(open, nil)
	f.server = httptest.NewServer(f.slack)
	t.Cleanup(f.server.Close)
	clock := func() time.Time { return f.now }
	svc := &failure.Service{Store: f.store, Announcer: &failure.Announcer{Outbox: f.store, Bus: f.bus, Log: discard()}, Now: clock}
	f.handler = &Handler{
		Secrets:  func(context.Context) ([]string, error) { return []string{testSecret}, nil },
		Groups:   groupMap{group: {"fail_a", "fail_b", "fail_c"}},
		Failures: svc,
		Client:   f.server.Client(),
		Now:      clock,
	}
	return f
}

// payload is the sample press of button action on the fixture's message.
func (f *fixture) payload(action string) string {
	var p map[string]any
	if err := json.Unmarshal([]byte(sample(f.t)), &p); err != nil {
		f.t.Fatal(err)
	}
	p["response_url"] = f.server.URL + "/actions/T0CAG6Q4F/1/xyz"
	p["actions"].([]any)[0].(map[string]any)["action_id"] = action
	b, _ := json.Marshal(p)
	return string(b)
}

// request is a POST of body signed with secret at ts.
func request(body []byte, secret string, ts time.Time) *http.Request {
	r := httptest.NewRequest("POST", "/v1/slack/actions", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	r.Header.Set(HeaderSignature, Sign(secret, ts.Unix(), body))
	return r
}

func (f *fixture) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

func (f *fixture) press(action string) *httptest.ResponseRecorder {
	return f.serve(request(form(f.payload(action)), testSecret, f.now))
}

func (f *fixture) state(id string) events.Failure {
	got, err := f.store.Get(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

// blocks lists "type/block_id[action ids]" of a posted message.
func blocks(m map[string]any) []string {
	var out []string
	for _, b := range m["blocks"].([]any) {
		b := b.(map[string]any)
		s := b["type"].(string) + "/" + b["block_id"].(string)
		if b["type"] == "actions" {
			var ids []string
			for _, e := range b["elements"].([]any) {
				ids = append(ids, e.(map[string]any)["action_id"].(string))
			}
			s += "[" + strings.Join(ids, ",") + "]"
		}
		out = append(out, s)
	}
	return out
}

func status(m map[string]any) string {
	for _, b := range m["blocks"].([]any) {
		if b := b.(map[string]any); b["block_id"] == StatusBlockID {
			return b["elements"].([]any)[0].(map[string]any)["text"].(string)
		}
	}
	return ""
}

func TestAcknowledgeThenResolve(t *testing.T) {
	f := newFixture(t)
	if w := f.press("ack"); w.Code != 200 {
		t.Fatalf("ack: %d %s", w.Code, w.Body)
	}
	for _, id := range []string{"fail_a", "fail_b", "fail_c"} {
		got := f.state(id)
		last := got.History[len(got.History)-1]
		if got.State != failure.Acknowledged || last.By != "slack:U024BE7LH" || !last.At.Equal(f.now) || last.Note != "from Slack by Ann Lee (@ann)" {
			t.Errorf("%s after ack: %s %+v", id, got.State, last)
		}
	}
	if got := f.state("fail_other"); got.State != failure.Open {
		t.Errorf("failure outside the group: %s", got.State)
	}
	if got := strings.Join(f.bus.types(), ","); got != "failure.acknowledged,failure.acknowledged,failure.acknowledged" {
		t.Errorf("announced %s", got)
	}
	posts := f.slack.all()
	if len(posts) != 1 {
		t.Fatalf("%d message updates, want 1", len(posts))
	}
	m := posts[0]
	if m["replace_original"] != true || m["text"] != "[WARNING] 3 customers answered the NPS survey with 0-6" {
		t.Errorf("update: %v", m)
	}
	want := "header/header section/summary actions/actions[resolve,runbook] context/ocx_status context/context"
	if got := strings.Join(blocks(m), " "); got != want {
		t.Errorf("blocks after ack:\n%s\nwant\n%s", got, want)
	}
	if got := status(m); got != ":eyes: Acknowledged by <@U024BE7LH> at <!date^1772443800^{date_short_pretty} {time}|2026-03-02T09:30:00Z> (3 failures)" {
		t.Errorf("status after ack: %s", got)
	}

	// Later, the Resolve button left on the message.
	ackedAt := f.now
	f.now = f.now.Add(20 * time.Minute)
	if w := f.press("resolve"); w.Code != 200 {
		t.Fatalf("resolve: %d %s", w.Code, w.Body)
	}
	for _, id := range []string{"fail_a", "fail_b", "fail_c"} {
		got := f.state(id)
		if got.State != failure.Resolved || len(got.History) != 3 || !got.History[1].At.Equal(ackedAt) || got.History[2].By != "slack:U024BE7LH" {
			t.Errorf("%s after resolve: %+v", id, got.History)
		}
	}
	posts = f.slack.all()
	if len(posts) != 2 {
		t.Fatalf("%d message updates, want 2", len(posts))
	}
	if got := strings.Join(blocks(posts[1]), " "); got != "header/header section/summary actions/actions[runbook] context/ocx_status context/context" {
		t.Errorf("blocks after resolve: %s", got)
	}
	if got := status(posts[1]); !strings.HasPrefix(got, ":white_check_mark: Resolved by <@U024BE7LH> at <!date^1772445000^") {
		t.Errorf("status after resolve: %s", got)
	}
}

// A second press, or Slack delivering the same request again, changes no
// failure and announces nothing more; the message shows the first step.
func TestPressIsIdempotent(t *testing.T) {
	f := newFixture(t)
	body := form(f.payload("ack"))
	if w := f.serve(request(body, testSecret, f.now)); w.Code != 200 {
		t.Fatalf("first press: %d", w.Code)
	}
	first := f.state("fail_a")
	f.now = f.now.Add(time.Minute)
	retry := request(body, testSecret, f.now)
	retry.Header.Set(HeaderRetryNum, "1")
	if w := f.serve(retry); w.Code != 200 {
		t.Fatalf("retry: %d %s", w.Code, w.Body)
	}
	if got := f.state("fail_a"); len(got.History) != len(first.History) {
		t.Errorf("history grew on a retry: %+v", got.History)
	}
	if n := len(f.bus.types()); n != 3 {
		t.Errorf("%d events announced, want 3", n)
	}
	posts := f.slack.all()
	if len(posts) != 2 || status(posts[0]) != status(posts[1]) {
		t.Errorf("message updates differ: %q then %q", status(posts[0]), status(posts[len(posts)-1]))
	}
}

// Acknowledging a group someone already resolved leaves it resolved and
// says so; within a group, a resolved failure stays resolved while the
// others are acknowledged.
func TestAcknowledgeResolved(t *testing.T) {
	f := newFixture(t)
	svc := f.handler.Failures.(*failure.Service)
	if _, err := svc.Resolve(context.Background(), "fail_b", "ops@example.com", "fixed"); err != nil {
		t.Fatal(err)
	}
	if w := f.press("ack"); w.Code != 200 {
		t.Fatalf("ack: %d %s", w.Code, w.Body)
	}
	if a, b := f.state("fail_a"), f.state("fail_b"); a.State != failure.Acknowledged || b.State != failure.Resolved {
		t.Fatalf("states %s and %s", a.State, b.State)
	}
	if got := status(f.slack.all()[0]); !strings.Contains(got, "Acknowledged by <@U024BE7LH>") {
		t.Errorf("status: %s", got)
	}

	for _, id := range []string{"fail_a", "fail_c"} {
		if _, err := svc.Resolve(context.Background(), id, "ops@example.com", "fixed"); err != nil {
			t.Fatal(err)
		}
	}
	if w := f.press("ack"); w.Code != 200 {
		t.Fatalf("ack on a resolved group: %d %s", w.Code, w.Body)
	}
	m := f.slack.all()[1]
	if got := status(m); !strings.HasPrefix(got, ":white_check_mark: Resolved by ops@example.com at ") {
		t.Errorf("status: %s", got)
	}
	if got := strings.Join(blocks(m), " "); !strings.Contains(got, "actions/actions[runbook]") {
		t.Errorf("blocks: %s", got)
	}
}

func TestRefusedRequestsChangeNothing(t *testing.T) {
	big := append([]byte("payload="), make([]byte, MaxBody)...)
	for _, c := range []struct {
		name   string
		req    func(f *fixture) *http.Request
		status int
		text   string
	}{
		{"tampered body", func(f *fixture) *http.Request {
			r := request(form(f.payload("ack")), testSecret, f.now)
			signed := r.Header.Clone()
			r = request(form(strings.Replace(f.payload("ack"), "U024BE7LH", "U0MALLORY", 1)), testSecret, f.now)
			r.Header = signed
			return r
		}, 401, "signature does not match"},
		{"wrong secret", func(f *fixture) *http.Request {
			return request(form(f.payload("ack")), "not-the-secret", f.now)
		}, 401, "signature does not match"},
		{"stale", func(f *fixture) *http.Request {
			return request(form(f.payload("ack")), testSecret, f.now.Add(-6*time.Minute))
		}, 401, "more than 5 minutes"},
		{"unsigned", func(f *fixture) *http.Request {
			r := request(form(f.payload("ack")), testSecret, f.now)
			r.Header.Del(HeaderSignature)
			return r
		}, 401, "missing or malformed"},
		{"JSON body", func(f *fixture) *http.Request {
			r := request([]byte(f.payload("ack")), testSecret, f.now)
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 415, "application/x-www-form-urlencoded"},
		{"over the size cap", func(f *fixture) *http.Request {
			return request(big, testSecret, f.now)
		}, 413, "body over"},
		{"signed but not a payload", func(f *fixture) *http.Request {
			return request([]byte("token=x&user_id=U1"), testSecret, f.now)
		}, 400, "no payload field"},
		{"signed press without a group key", func(f *fixture) *http.Request {
			return request(form(strings.ReplaceAll(f.payload("ack"), `"value":"grp_7f3a9c"`, `"value":""`)), testSecret, f.now)
		}, 400, "group key"},
		{"GET", func(f *fixture) *http.Request {
			return httptest.NewRequest("GET", "/v1/slack/actions", nil)
		}, 405, "use POST"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			w := f.serve(c.req(f))
			if w.Code != c.status || !strings.Contains(w.Body.String(), c.text) {
				t.Fatalf("%d %s, want %d with %q", w.Code, w.Body, c.status, c.text)
			}
			for _, id := range []string{"fail_a", "fail_b", "fail_c"} {
				if got := f.state(id); got.State != failure.Open {
					t.Errorf("%s is %s", id, got.State)
				}
			}
			if len(f.bus.types()) != 0 || len(f.slack.all()) != 0 {
				t.Errorf("announced %v, posted %d updates", f.bus.types(), len(f.slack.all()))
			}
		})
	}
}

// Interactions that are not OCX's buttons are acknowledged and ignored, as
// Slack expects of every interaction.
func TestOtherInteractionsIgnored(t *testing.T) {
	for _, c := range []struct{ name, payload string }{
		{"runbook link", `{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"runbook","type":"button"}]}`},
		{"modal submission", `{"type":"view_submission","user":{"id":"U1"},"view":{"id":"V1"}}`},
		{"global shortcut", `{"type":"shortcut","user":{"id":"U1"},"callback_id":"x"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			w := f.serve(request(form(c.payload), testSecret, f.now))
			if w.Code != 200 || w.Body.Len() != 0 {
				t.Fatalf("%d %q, want an empty 200", w.Code, w.Body)
			}
			if got := f.state("fail_a"); got.State != failure.Open || len(f.slack.all()) != 0 {
				t.Errorf("state %s, %d posts", got.State, len(f.slack.all()))
			}
		})
	}
}

func TestRotatedSecret(t *testing.T) {
	f := newFixture(t)
	f.handler.Secrets = func(context.Context) ([]string, error) { return []string{"the-new-secret", testSecret}, nil }
	if w := f.press("ack"); w.Code != 200 {
		t.Fatalf("signed with the old secret during rotation: %d %s", w.Code, w.Body)
	}
	f.handler.Secrets = func(context.Context) ([]string, error) { return []string{"the-new-secret"}, nil }
	if w := f.press("resolve"); w.Code != 401 {
		t.Fatalf("signed with a retired secret: %d", w.Code)
	}
	if got := f.state("fail_a"); got.State != failure.Acknowledged {
		t.Errorf("state %s", got.State)
	}
}

func TestSecretUnavailable(t *testing.T) {
	f := newFixture(t)
	f.handler.Secrets = func(context.Context) ([]string, error) { return nil, errors.New("AccessDenied") }
	if w := f.press("ack"); w.Code != 500 || strings.Contains(w.Body.String(), "AccessDenied") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// The failure records are what count: a message update Slack refuses is
// logged and the press still succeeds.
func TestMessageUpdateFails(t *testing.T) {
	f := newFixture(t)
	f.slack.status = http.StatusNotFound
	if w := f.press("ack"); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if got := f.state("fail_c"); got.State != failure.Acknowledged {
		t.Errorf("state %s", got.State)
	}
	f.server.Close()
	if w := f.press("resolve"); w.Code != 200 {
		t.Fatalf("response_url down: %d %s", w.Code, w.Body)
	}
	if got := f.state("fail_c"); got.State != failure.Resolved {
		t.Errorf("state %s", got.State)
	}
}

func TestUnknownGroup(t *testing.T) {
	f := newFixture(t)
	f.handler.Groups = groupMap{}
	if w := f.press("ack"); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	posts := f.slack.all()
	if len(posts) != 1 || posts[0]["response_type"] != "ephemeral" || posts[0]["replace_original"] != false ||
		!strings.Contains(posts[0]["text"].(string), "nothing was changed") {
		t.Fatalf("posts: %v", posts)
	}
}

// failing moves one failure with an error, or waits out the budget.
type failing struct {
	Lifecycle
	id   string
	hang bool
}

func (l failing) Acknowledge(ctx context.Context, id, by, note string) (events.Failure, error) {
	if l.hang {
		<-ctx.Done()
		return events.Failure{}, ctx.Err()
	}
	if id == l.id {
		return events.Failure{}, errors.New("ProvisionedThroughputExceeded")
	}
	return l.Lifecycle.Acknowledge(ctx, id, by, note)
}

// A press that cannot move every failure says so, so the presser presses
// again; the buttons stay, and what moved stays moved.
func TestPartialFailure(t *testing.T) {
	f := newFixture(t)
	f.handler.Failures = failing{Lifecycle: f.handler.Failures, id: "fail_b"}
	if w := f.press("ack"); w.Code != 503 || !strings.Contains(w.Body.String(), "press again") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if a, b := f.state("fail_a"), f.state("fail_b"); a.State != failure.Acknowledged || b.State != failure.Open {
		t.Errorf("states %s, %s", a.State, b.State)
	}
	if n := len(f.slack.all()); n != 0 {
		t.Errorf("%d message updates, want none", n)
	}
}

func TestBudget(t *testing.T) {
	f := newFixture(t)
	f.handler.Failures = failing{Lifecycle: f.handler.Failures, hang: true}
	f.handler.Budget = 50 * time.Millisecond
	done := make(chan int)
	go func() { done <- f.press("ack").Code }()
	select {
	case code := <-done:
		if code != 503 {
			t.Fatalf("%d, want 503", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the press outlived its budget")
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
