package outbound

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/testclock"
)

// The stores here keep the ports' contracts in memory; the DynamoDB
// adapters are held to the same contracts against the emulator in
// internal/dynamo.

type memDeliveries struct {
	mu       sync.Mutex
	d        map[string]Delivery
	attempts map[string][]Attempt
}

func newMemDeliveries() *memDeliveries {
	return &memDeliveries{d: map[string]Delivery{}, attempts: map[string][]Attempt{}}
}

func (m *memDeliveries) CreateSettled(_ context.Context, d Delivery, a *Attempt, o Outcome) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a != nil {
		// The attempt's record comes first, as in the table, and stays
		// even when the delivery was recorded meanwhile.
		m.attempts[d.ID] = append(slices.DeleteFunc(m.attempts[d.ID], func(x Attempt) bool { return x.N == a.N }), *a)
	}
	if _, ok := m.d[d.ID]; ok {
		return false, nil
	}
	m.d[d.ID] = d.Settled(a, o)
	return true, nil
}

func (m *memDeliveries) Get(_ context.Context, id string) (Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.d[id]
	if !ok {
		return d, ErrNotFound
	}
	return d, nil
}

func (m *memDeliveries) Claim(_ context.Context, id string, n int, now, next time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.d[id]
	if d.Status != StatusPending || d.Attempts != n-1 || d.NextAttemptAt.After(now) {
		return false, nil
	}
	d.Attempts, d.NextAttemptAt = n, next
	m.d[id] = d
	return true, nil
}

func (m *memDeliveries) Record(_ context.Context, d Delivery, a Attempt, o Outcome) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts[d.ID] = append(m.attempts[d.ID], a)
	m.settle(d.ID, o)
	return nil
}

func (m *memDeliveries) settle(id string, o Outcome) {
	m.d[id] = m.d[id].Settled(nil, o)
}

func (m *memDeliveries) Fail(_ context.Context, d Delivery, at time.Time, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settle(d.ID, Outcome{Status: StatusFailed, At: at, LastStatus: d.LastStatus, LastError: reason})
	return nil
}

func (m *memDeliveries) Reopen(_ context.Context, d Delivery, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.d[d.ID]
	if cur.Status == StatusPending {
		return false, nil
	}
	cur.Status, cur.NextAttemptAt, cur.RoundStarted, cur.RoundBase = StatusPending, now, now, cur.Attempts
	cur.Replays++
	cur.FailedAt, cur.DeliveredAt = time.Time{}, time.Time{}
	m.d[d.ID] = cur
	return true, nil
}

func (m *memDeliveries) List(_ context.Context, q Query) ([]Delivery, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Delivery
	for _, d := range m.d {
		if d.Endpoint != q.Endpoint {
			continue
		}
		if !q.DueBy.IsZero() {
			if d.Status == StatusPending && !d.NextAttemptAt.After(q.DueBy) {
				out = append(out, d)
			}
			continue
		}
		if q.Status == "" || d.Status == q.Status {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b Delivery) int { return b.CreatedAt.Compare(a.CreatedAt) })
	if !q.DueBy.IsZero() {
		slices.SortFunc(out, func(a, b Delivery) int { return a.NextAttemptAt.Compare(b.NextAttemptAt) })
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, "", nil
}

func (m *memDeliveries) Attempts(_ context.Context, id string) ([]Attempt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.attempts[id]), nil
}

type memEndpoints struct {
	mu sync.Mutex
	e  map[string]EndpointState
	// successes counts the writes of a success.
	successes int
}

func (m *memEndpoints) Get(_ context.Context, id string) (EndpointState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.e[id]
	e.ID = id
	return e, nil
}

func (m *memEndpoints) Failed(_ context.Context, id string, now time.Time) (EndpointState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.e[id]
	e.ConsecutiveFailures++
	if e.FailingSince.IsZero() {
		e.FailingSince = now
	}
	m.e[id] = e
	return e, nil
}

func (m *memEndpoints) Succeeded(_ context.Context, id string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.successes++
	e := m.e[id]
	e.ConsecutiveFailures, e.FailingSince, e.LastSuccessAt = 0, time.Time{}, now
	m.e[id] = e
	return nil
}

func (m *memEndpoints) Disable(_ context.Context, id string, now time.Time, reason string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.e[id]
	if e.Disabled {
		return false, nil
	}
	e.Disabled, e.DisabledAt, e.DisabledReason = true, now, reason
	m.e[id] = e
	return true, nil
}

func (m *memEndpoints) Enable(_ context.Context, id string, _ time.Time, by string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.e[id] = EndpointState{EnabledBy: by}
	return nil
}

type staticSecrets []string

func (s staticSecrets) List(context.Context, string) ([]string, error) { return s, nil }

// wakeups records what was scheduled.
type wakeups struct {
	mu  sync.Mutex
	got []wakeupAt
}

type wakeupAt struct {
	key string
	at  time.Time
}

func (w *wakeups) Schedule(_ context.Context, key string, at time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, wakeupAt{key, at})
	return nil
}

func (w *wakeups) last() wakeupAt {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got[len(w.got)-1]
}

// lastFor is the latest wake-up for a delivery.
func (w *wakeups) lastFor(id string) wakeupAt {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.got) - 1; i >= 0; i-- {
		if w.got[i].key == WakeKey(id) {
			return w.got[i]
		}
	}
	return wakeupAt{}
}

type letters struct {
	mu  sync.Mutex
	got []DeadLetter
}

func (l *letters) SendJSON(_ context.Context, v any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, v.(DeadLetter))
	return nil
}

type counts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counts) Count(name string, n int, _ map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[name] += n
}

// commands hands replay commands straight to the service, as the bus does.
type commands struct{ svc *Service }

func (c commands) Replay(ctx context.Context, cmd ReplayCommand) error {
	detail, _ := json.Marshal(cmd)
	return c.svc.Handle(ctx, events.Envelope{ID: "cmd", Source: Source, DetailType: TypeReplay, Detail: detail})
}

// receiver is a real HTTP endpoint answering with the statuses it is given.
type receiver struct {
	mu       sync.Mutex
	answer   func(n int, body []byte) (int, http.Header)
	requests []received
}

type received struct {
	header http.Header
	body   []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.requests = append(rc.requests, received{r.Header.Clone(), body})
	n := len(rc.requests)
	answer := rc.answer
	rc.mu.Unlock()
	status, h := answer(n, body)
	for k, v := range h {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(http.StatusText(status)))
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.requests)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.requests)
}

type fixture struct {
	clock *testclock.Clock
	svc   *Service
	admin *Admin
	store *memDeliveries
	eps   *memEndpoints
	wake  *wakeups
	dead  *letters
	count *counts
	recv  *receiver
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func newFixture(t *testing.T, answer func(n int, body []byte) (int, http.Header)) *fixture {
	t.Helper()
	clock, err := testclock.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{answer: answer}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	f := &fixture{clock: clock, store: newMemDeliveries(), eps: &memEndpoints{e: map[string]EndpointState{}}, wake: &wakeups{},
		dead: &letters{}, count: &counts{}, recv: rc}
	subs := []Subscription{{ID: "crm", URL: srv.URL + "/hooks?token=t", URLTemplate: srv.URL + "/hooks?token=t",
		Pattern: `{"source":["ocx.rules"]}`, Secret: "crm"}}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	f.svc = &Service{Subscriptions: subs, Deliveries: f.store, Endpoints: f.eps, Secrets: staticSecrets{testSecret},
		Client: srv.Client(), Wakeups: f.wake, Dead: f.dead, Metrics: f.count, Now: clock.Now, Rand: func() float64 { return 0.5 }, Log: log}
	f.admin = &Admin{Subscriptions: subs, Deliveries: f.store, Endpoints: f.eps, Commands: commands{f.svc}, Now: clock.Now, Log: log}
	return f
}

// event is a failure event as the bus hands it to the function.
func (f *fixture) event(id string) events.Envelope {
	return events.Envelope{Version: "0", ID: id, DetailType: "failure.detected", Source: "ocx.rules",
		Account: "000000000000", Region: "eu-west-1", Time: f.clock.Now().Truncate(time.Second), Resources: []string{},
		Detail: json.RawMessage(`{"id":"fail_` + id + `","rule":"detractor","state":"open"}`)}
}

// wakeDue hands the service a delivery's latest wake-up once the clock
// reaches it.
func (f *fixture) wakeDue(t *testing.T, id string) {
	t.Helper()
	w := f.wake.lastFor(id)
	if w.at.After(f.clock.Now()) {
		f.clock.Set(w.at)
	}
	if err := f.svc.Wake(context.Background(), w.key); err != nil {
		t.Fatal(err)
	}
}
