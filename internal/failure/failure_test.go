package failure

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/httpauth"
)

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func opened(id string) events.Failure {
	return Opened(events.Failure{ID: id, RuleID: "nps.detractor", Description: "d", Severity: "warning", Team: "cx-support",
		Labels: map[string]string{}, DetectedAt: t0, Evidence: []events.Evidence{{EventID: "e1", Type: "survey.responded", OccurredAt: t0}}}, "rule nps.detractor")
}

func TestMove(t *testing.T) {
	cases := []struct {
		from, to string
		changed  bool
		err      error
	}{
		{Open, Acknowledged, true, nil},
		{Open, Resolved, true, nil},
		{Acknowledged, Resolved, true, nil},
		{Acknowledged, Acknowledged, false, nil},
		{Resolved, Resolved, false, nil},
		{Resolved, Acknowledged, false, ErrTransition},
		{Resolved, Open, false, ErrTransition},
		{Acknowledged, Open, false, ErrTransition},
		{Open, "snoozed", false, ErrTransition},
	}
	for _, c := range cases {
		f := opened("flr_1")
		f.State = c.from
		moved, changed, err := Move(f, c.to, "ann@example.com", t0.Add(time.Minute), "on it")
		if changed != c.changed || !errors.Is(err, c.err) {
			t.Errorf("%s -> %s: changed %v err %v, want %v %v", c.from, c.to, changed, err, c.changed, c.err)
			continue
		}
		if !changed {
			continue
		}
		last := moved.History[len(moved.History)-1]
		if moved.State != c.to || last != (events.FailureStep{State: c.to, By: "ann@example.com", At: t0.Add(time.Minute), Note: "on it"}) || len(f.History) != 1 {
			t.Errorf("%s -> %s: %+v (original history %v)", c.from, c.to, moved, f.History)
		}
	}
	if _, _, err := Move(opened("flr_1"), Resolved, "", t0, ""); !errors.Is(err, ErrTransition) {
		t.Errorf("a step without who: %v", err)
	}
}

type recBus struct {
	mu   sync.Mutex
	evs  []events.Event
	fail bool
}

func (b *recBus) Publish(_ context.Context, evs ...events.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail {
		return errors.New("down")
	}
	b.evs = append(b.evs, evs...)
	return nil
}

func newService(t *testing.T) (*Service, *Memory, *recBus, *time.Time) {
	t.Helper()
	mem := NewMemory()
	b := &recBus{}
	now := t0
	ann := &Announcer{Outbox: mem, Bus: b, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return &Service{Store: mem, Announcer: ann, Now: func() time.Time { return now }}, mem, b, &now
}

func TestAcknowledgeThenResolve(t *testing.T) {
	svc, mem, b, now := newService(t)
	ctx := context.Background()
	mem.Create([]events.Failure{opened("flr_1")}, nil)

	*now = t0.Add(5 * time.Minute)
	f, err := svc.Acknowledge(ctx, "flr_1", "slack:U1", "looking")
	if err != nil || f.State != Acknowledged {
		t.Fatalf("acknowledge: %+v %v", f, err)
	}
	// A second click changes nothing and announces nothing.
	if f, err = svc.Acknowledge(ctx, "flr_1", "slack:U2", ""); err != nil || len(f.History) != 2 {
		t.Fatalf("second acknowledge: %+v %v", f, err)
	}
	*now = t0.Add(time.Hour)
	if f, err = svc.Resolve(ctx, "flr_1", "slack:U1", "refunded"); err != nil || f.State != Resolved {
		t.Fatalf("resolve: %+v %v", f, err)
	}
	if _, err := svc.Acknowledge(ctx, "flr_1", "slack:U1", ""); !errors.Is(err, ErrTransition) {
		t.Fatalf("acknowledging a resolved failure: %v", err)
	}
	if _, err := svc.Resolve(ctx, "flr_nope", "x", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("resolving an unknown failure: %v", err)
	}
	if len(b.evs) != 2 || b.evs[0].DetailType != events.TypeFailureAcknowledged || b.evs[1].DetailType != events.TypeFailureResolved {
		t.Fatalf("published %+v", b.evs)
	}
	got := b.evs[1].Detail.(events.Failure)
	want := []events.FailureStep{
		{State: Open, By: "rule nps.detractor", At: t0},
		{State: Acknowledged, By: "slack:U1", At: t0.Add(5 * time.Minute), Note: "looking"},
		{State: Resolved, By: "slack:U1", At: t0.Add(time.Hour), Note: "refunded"},
	}
	if len(got.History) != 3 {
		t.Fatalf("history %+v", got.History)
	}
	for i := range want {
		if got.History[i] != want[i] {
			t.Errorf("step %d = %+v, want %+v", i, got.History[i], want[i])
		}
	}
	if !b.evs[1].Time.Equal(t0.Add(time.Hour)) || mem.Pending() != 0 {
		t.Fatalf("event time %s, %d messages left", b.evs[1].Time, mem.Pending())
	}
}

// Two people acknowledging at once: one step is recorded, one event sent.
func TestConcurrentAcknowledgements(t *testing.T) {
	svc, mem, b, _ := newService(t)
	mem.Create([]events.Failure{opened("flr_1")}, nil)
	var wg sync.WaitGroup
	for _, who := range []string{"a", "b", "c", "d"} {
		wg.Go(func() {
			if _, err := svc.Acknowledge(context.Background(), "flr_1", who, ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f, _ := mem.Get(context.Background(), "flr_1")
	if len(f.History) != 2 || len(b.evs) != 1 {
		t.Fatalf("history %+v, %d events", f.History, len(b.evs))
	}
}

// A move whose announcement fails is stored; the flush after the lease
// sends it, once, however many flushes run.
func TestFlushSendsWhatWasLeftBehind(t *testing.T) {
	svc, mem, b, now := newService(t)
	ctx := context.Background()
	mem.Create([]events.Failure{opened("flr_1")}, nil)
	b.fail = true
	if _, err := svc.Resolve(ctx, "flr_1", "ann", ""); err != nil {
		t.Fatalf("a stored move must succeed though its event waits: %v", err)
	}
	b.fail = false
	if n, err := svc.Announcer.Flush(ctx, *now); err != nil || n != 0 {
		t.Fatalf("flush within the lease sent %d, %v", n, err)
	}
	later := now.Add(Lease + time.Second)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := svc.Announcer.Flush(ctx, later); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(b.evs) != 1 || b.evs[0].DetailType != events.TypeFailureResolved || mem.Pending() != 0 {
		t.Fatalf("published %d events, %d left", len(b.evs), mem.Pending())
	}
}

func TestRoutes(t *testing.T) {
	svc, mem, _, _ := newService(t)
	a, b := opened("flr_a"), opened("flr_b")
	b.Team, b.State, b.Severity = "payments", Resolved, "critical"
	mem.Create([]events.Failure{a, b}, nil)
	mux := http.NewServeMux()
	Routes(mux, svc, httpauth.Guard{Token: "tok"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	get := func(path, token string) (int, []byte) {
		req := httptest.NewRequest("GET", path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code, rec.Body.Bytes()
	}
	cases := []struct {
		path, token string
		code        int
		ids         []string
	}{
		{"/v1/failures", "", 401, nil},
		{"/v1/failures", "tok", 200, []string{"flr_b", "flr_a"}},
		{"/v1/failures?state=open", "tok", 200, []string{"flr_a"}},
		{"/v1/failures?team=payments&state=resolved", "tok", 200, []string{"flr_b"}},
		{"/v1/failures?rule=other", "tok", 200, []string{}},
		{"/v1/failures?limit=1", "tok", 200, []string{"flr_b"}},
		{"/v1/failures?limit=1&cursor=1", "tok", 200, []string{"flr_a"}},
		{"/v1/failures?severity=critical", "tok", 200, []string{"flr_b"}},
		{"/v1/failures?severity=warning&team=payments", "tok", 200, []string{}},
		{"/v1/failures?sort=-detected_at", "tok", 200, []string{"flr_b", "flr_a"}},
		{"/v1/failures?sort=detected_at", "tok", 200, []string{"flr_a", "flr_b"}},
		{"/v1/failures?sort=detected_at&limit=1&cursor=1", "tok", 200, []string{"flr_b"}},
		{"/v1/failures?sort=severity", "tok", 400, nil},
		{"/v1/failures?state=snoozed", "tok", 400, nil},
		{"/v1/failures?limit=0", "tok", 400, nil},
		{"/v1/failures?cursor=x", "tok", 400, nil},
		{"/v1/failures/flr_a", "tok", 200, []string{"flr_a"}},
		{"/v1/failures/flr_zzz", "tok", 404, nil},
	}
	for _, c := range cases {
		code, body := get(c.path, c.token)
		if code != c.code {
			t.Errorf("%s: %d %s, want %d", c.path, code, body, c.code)
			continue
		}
		if c.ids == nil {
			continue
		}
		var ids []string
		var page Page
		if err := json.Unmarshal(body, &page); err == nil && page.Failures != nil {
			for _, f := range page.Failures {
				ids = append(ids, f.ID)
			}
		} else {
			var f events.Failure
			_ = json.Unmarshal(body, &f)
			ids = []string{f.ID}
		}
		if ids == nil {
			ids = []string{}
		}
		if !slices.Equal(ids, c.ids) {
			t.Errorf("%s: %v, want %v", c.path, ids, c.ids)
		}
	}
	if _, body := get("/v1/failures?limit=1", "tok"); !json.Valid(body) || string(body) == "" {
		t.Fatal("no JSON")
	}
}

// The console's lifecycle routes: acknowledge, assign, note and resolve are
// recorded with the caller and time, announced like Slack's buttons, and
// shown by GET /v1/failures/{id} and the listing.
func TestActionRoutes(t *testing.T) {
	svc, mem, b, now := newService(t)
	svc.Notebook = mem
	mem.Create([]events.Failure{opened("flr_a")}, nil)
	mux := http.NewServeMux()
	Routes(mux, svc, httpauth.Guard{Token: "tok"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	call := func(method, path, body, user string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		if user != "" {
			req.Header.Set(httpauth.HeaderUser, user)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	steps := []struct {
		path, body, user string
		code             int
	}{
		{"/v1/failures/flr_a/assign", `{"assignee":"Dana"}`, "Ann Lead", 200},
		{"/v1/failures/flr_a/notes", `{"text":"called the customer"}`, "Dana", 200},
		{"/v1/failures/flr_a/notes", `{"text":"  "}`, "Dana", 400},
		{"/v1/failures/flr_a/assign", `{}`, "Dana", 400},
		{"/v1/failures/flr_a/acknowledge", `{"note":"on it"}`, "Dana", 200},
		{"/v1/failures/flr_a/resolve", ``, "<script>", 200},
		{"/v1/failures/flr_a/acknowledge", ``, "Dana", 409},
		{"/v1/failures/flr_zz/notes", `{"text":"x"}`, "Dana", 404},
		{"/v1/failures/flr_a/notes", `{"text":`, "Dana", 400},
	}
	for i, st := range steps {
		*now = t0.Add(time.Duration(i+1) * time.Minute)
		if code, body := call("POST", st.path, st.body, st.user); code != st.code {
			t.Errorf("%s %s: %d %s, want %d", st.path, st.body, code, body, st.code)
		}
	}
	code, body := call("GET", "/v1/failures/flr_a", "", "")
	var d Detail
	if code != 200 || json.Unmarshal([]byte(body), &d) != nil {
		t.Fatalf("detail: %d %s", code, body)
	}
	if d.Assignment == nil || d.Assignment.Assignee != "Dana" || d.Assignment.By != "console:Ann Lead" || !d.Assignment.At.Equal(t0.Add(time.Minute)) {
		t.Errorf("assignment %+v", d.Assignment)
	}
	if len(d.Activity) != 2 || d.Activity[1].Text != "called the customer" || d.Activity[1].By != "console:Dana" {
		t.Errorf("activity %+v", d.Activity)
	}
	wantHistory := []events.FailureStep{
		{State: Open, By: "rule nps.detractor", At: t0},
		{State: Acknowledged, By: "console:Dana", At: t0.Add(5 * time.Minute), Note: "on it"},
		// A name the guard does not accept labels nothing.
		{State: Resolved, By: "token", At: t0.Add(6 * time.Minute)},
	}
	if !slices.Equal(d.History, wantHistory) {
		t.Errorf("history %+v, want %+v", d.History, wantHistory)
	}
	if len(b.evs) != 2 || b.evs[0].DetailType != events.TypeFailureAcknowledged {
		t.Errorf("announced %+v", b.evs)
	}
	_, body = call("GET", "/v1/failures", "", "")
	var page Page
	if json.Unmarshal([]byte(body), &page) != nil || len(page.Failures) != 1 || page.Failures[0].Assignment == nil || page.Failures[0].Assignment.Assignee != "Dana" {
		t.Errorf("listing %s", body)
	}
}
