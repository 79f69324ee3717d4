package notify

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/team"
)

// memLedger keeps the Ledger protocol in memory, with the same conditions
// the DynamoDB ledger enforces.
type memLedger struct {
	mu       sync.Mutex
	entries  map[string]memEntry
	claimErr error
}

type memEntry struct {
	sent       bool
	leaseUntil time.Time
}

func newMemLedger() *memLedger { return &memLedger{entries: map[string]memEntry{}} }

func (l *memLedger) Claim(_ context.Context, id, receiver string, now, until time.Time) (Claim, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.claimErr != nil {
		return 0, l.claimErr
	}
	e, ok := l.entries[id+"|"+receiver]
	switch {
	case ok && e.sent:
		return AlreadySent, nil
	case ok && !e.leaseUntil.Before(now):
		return Held, nil
	}
	l.entries[id+"|"+receiver] = memEntry{leaseUntil: until}
	return Granted, nil
}

func (l *memLedger) MarkSent(_ context.Context, id, receiver string, _ time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries[id+"|"+receiver] = memEntry{sent: true}
	return nil
}

func (l *memLedger) Release(_ context.Context, id, receiver string, until time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[id+"|"+receiver]; ok && !e.sent && e.leaseUntil.Equal(until) {
		delete(l.entries, id+"|"+receiver)
	}
	return nil
}

func (l *memLedger) state(id, receiver string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[id+"|"+receiver]
	switch {
	case !ok:
		return "none"
	case e.sent:
		return "sent"
	}
	return "claimed"
}

// result is one scripted outcome of a fake notifier's Notify.
type result struct {
	retry bool
	err   error
}

// fakeNotifier returns its scripted results in turn, then succeeds.
type fakeNotifier struct {
	name   string
	serves func(team.Team) bool

	mu      sync.Mutex
	results []result
	calls   int
}

func (n *fakeNotifier) Name() string { return n.name }

func (n *fakeNotifier) Serves(t team.Team) bool { return n.serves == nil || n.serves(t) }

func (n *fakeNotifier) Notify(context.Context, team.Team, events.Failure) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls++
	if len(n.results) == 0 {
		return false, nil
	}
	r := n.results[0]
	n.results = n.results[1:]
	return r.retry, r.err
}

func (n *fakeNotifier) called() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls
}

var (
	support = team.Team{ID: "cx-support", Name: "Customer support", Slack: "cx-support", Email: []string{"cx@example.com"}}
	failure = events.Failure{ID: "f-1", RuleID: "nps.detractor", Team: "cx-support", Severity: "warning"}
	errDown = errors.New("service unavailable")
)

// fixture is a Service over fakes with a controllable clock and recorded
// waits.
type fixture struct {
	svc    *Service
	ledger *memLedger
	clock  time.Time
	mu     sync.Mutex
	waits  []time.Duration
}

func newFixture(notifiers ...Notifier) *fixture {
	fx := &fixture{ledger: newMemLedger(), clock: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	fx.svc = &Service{
		Teams:     team.NewRegistry(support, team.Team{ID: "slack-only", Slack: "s"}),
		Notifiers: notifiers,
		Ledger:    fx.ledger,
		Now:       func() time.Time { return fx.clock },
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sleep: func(ctx context.Context, d time.Duration) error {
			fx.mu.Lock()
			fx.waits = append(fx.waits, d)
			fx.mu.Unlock()
			return ctx.Err()
		},
	}
	return fx
}

func TestDeliverSendsEachReceiverOnce(t *testing.T) {
	slack, email := &fakeNotifier{name: "slack"}, &fakeNotifier{name: "email"}
	fx := newFixture(slack, email)
	ctx := context.Background()

	if err := fx.svc.Deliver(ctx, failure); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	// A duplicate event, or a Lambda retry, must not send again.
	if err := fx.svc.Deliver(ctx, failure); err != nil {
		t.Fatalf("second Deliver: %v", err)
	}
	for _, n := range []*fakeNotifier{slack, email} {
		if n.called() != 1 {
			t.Errorf("%s called %d times, want 1", n.name, n.called())
		}
		if s := fx.ledger.state("f-1", "cx-support/"+n.name); s != "sent" {
			t.Errorf("%s ledger state %s, want sent", n.name, s)
		}
	}
}

func TestDeliverRetries(t *testing.T) {
	tests := []struct {
		name      string
		results   []result
		backoff   Backoff
		wantCalls int
		wantWaits []time.Duration // each wait must lie in [w/2, w]; exact when Retry-After
		wantErr   string          // substring; "" means success
		wantState string
	}{
		{
			name:      "transient failures then success",
			results:   []result{{true, errDown}, {true, errDown}},
			wantCalls: 3,
			wantWaits: []time.Duration{time.Second, 2 * time.Second},
			wantState: "sent",
		},
		{
			name:      "permanent failure is not retried",
			results:   []result{{false, errors.New("invalid_payload")}},
			wantCalls: 1,
			wantErr:   "deliver failure f-1 to cx-support/slack (1 attempts): invalid_payload",
			wantState: "none",
		},
		{
			name:      "attempts are bounded",
			results:   []result{{true, errDown}, {true, errDown}, {true, errDown}, {true, errDown}, {true, errDown}},
			wantCalls: 4,
			wantWaits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
			wantErr:   "(4 attempts): service unavailable",
			wantState: "none",
		},
		{
			name:      "backoff is capped",
			results:   []result{{true, errDown}, {true, errDown}, {true, errDown}},
			backoff:   Backoff{Attempts: 5, Initial: 2 * time.Second, Max: 3 * time.Second},
			wantCalls: 4,
			wantWaits: []time.Duration{2 * time.Second, 3 * time.Second, 3 * time.Second},
			wantState: "sent",
		},
		{
			name:      "retry-after is honoured",
			results:   []result{{true, &RetryAfterError{After: 7 * time.Second, Err: errors.New("429")}}},
			wantCalls: 2,
			wantWaits: []time.Duration{7 * time.Second},
			wantState: "sent",
		},
		{
			name:      "retry-after beyond the cap ends this delivery",
			results:   []result{{true, &RetryAfterError{After: time.Minute, Err: errors.New("429")}}},
			wantCalls: 1,
			wantErr:   "receiver asks to wait 1m0s, longer than this delivery waits: 429 (retry after 1m0s)",
			wantState: "none",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &fakeNotifier{name: "slack", results: tt.results}
			fx := newFixture(n)
			fx.svc.Backoff = tt.backoff
			err := fx.svc.Deliver(context.Background(), failure)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Deliver error %v, want it to contain %q", err, tt.wantErr)
			}
			if n.called() != tt.wantCalls {
				t.Errorf("Notify called %d times, want %d", n.called(), tt.wantCalls)
			}
			if len(fx.waits) != len(tt.wantWaits) {
				t.Fatalf("waits %v, want %d of them", fx.waits, len(tt.wantWaits))
			}
			for i, w := range tt.wantWaits {
				lo := w / 2
				var ra *RetryAfterError
				if errors.As(tt.results[i].err, &ra) {
					lo = w
				}
				if got := fx.waits[i]; got < lo || got > w {
					t.Errorf("wait %d = %s, want within [%s, %s]", i, got, lo, w)
				}
			}
			if s := fx.ledger.state("f-1", "cx-support/slack"); s != tt.wantState {
				t.Errorf("ledger state %s, want %s", s, tt.wantState)
			}
		})
	}
}

func TestDeliverRetryResendsOnlyFailedReceivers(t *testing.T) {
	slack := &fakeNotifier{name: "slack", results: []result{{false, errors.New("channel_not_found")}}}
	email := &fakeNotifier{name: "email"}
	fx := newFixture(slack, email)
	ctx := context.Background()

	err := fx.svc.Deliver(ctx, failure)
	if err == nil || !strings.Contains(err.Error(), "cx-support/slack") || strings.Contains(err.Error(), "cx-support/email") {
		t.Fatalf("Deliver error %v, want one naming only the slack receiver", err)
	}
	// The Lambda retries the whole event: only Slack is sent again.
	if err := fx.svc.Deliver(ctx, failure); err != nil {
		t.Fatalf("retried Deliver: %v", err)
	}
	if slack.called() != 2 || email.called() != 1 {
		t.Fatalf("calls slack=%d email=%d, want 2 and 1", slack.called(), email.called())
	}
}

func TestDeliverHeldByAnotherAttempt(t *testing.T) {
	n := &fakeNotifier{name: "slack"}
	fx := newFixture(n)
	ctx := context.Background()
	// Another attempt claimed a moment ago and is still within its lease.
	if _, err := fx.ledger.Claim(ctx, "f-1", "cx-support/slack", fx.clock, fx.clock.Add(DefaultLease)); err != nil {
		t.Fatal(err)
	}

	err := fx.svc.Deliver(ctx, failure)
	if !errors.Is(err, ErrInFlight) {
		t.Fatalf("Deliver error %v, want ErrInFlight so the event is retried", err)
	}
	if n.called() != 0 {
		t.Fatal("sent while another attempt held the delivery")
	}

	// That attempt died; once its lease lapses a retry delivers.
	fx.clock = fx.clock.Add(DefaultLease + time.Second)
	if err := fx.svc.Deliver(ctx, failure); err != nil {
		t.Fatalf("Deliver after the lease lapsed: %v", err)
	}
	if n.called() != 1 {
		t.Fatalf("Notify called %d times, want 1", n.called())
	}
}

func TestDeliverSkipsReceiversThatDoNotServeTheTeam(t *testing.T) {
	slack := &fakeNotifier{name: "slack", serves: func(t team.Team) bool { return t.Slack != "" }}
	email := &fakeNotifier{name: "email", serves: func(t team.Team) bool { return len(t.Email) > 0 }}
	fx := newFixture(slack, email)
	f := failure
	f.Team = "slack-only"
	if err := fx.svc.Deliver(context.Background(), f); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if slack.called() != 1 || email.called() != 0 {
		t.Fatalf("calls slack=%d email=%d, want 1 and 0", slack.called(), email.called())
	}
	if s := fx.ledger.state("f-1", "slack-only/email"); s != "none" {
		t.Fatalf("skipped receiver has ledger state %s", s)
	}

	// With no receiver left, the failure must not vanish silently.
	fx.svc.Notifiers = []Notifier{email}
	if err := fx.svc.Deliver(context.Background(), f); !errors.Is(err, ErrNoReceiver) {
		t.Fatalf("Deliver error %v, want ErrNoReceiver", err)
	}
}

func TestDeliverRejects(t *testing.T) {
	tests := []struct {
		name    string
		failure events.Failure
		claim   error
		is      error
		msg     string
	}{
		{name: "unknown team", failure: events.Failure{ID: "f-2", Team: "nobody"}, is: ErrUnknownTeam,
			msg: `deliver failure f-2: team "nobody": unknown team`},
		{name: "no id", failure: events.Failure{RuleID: "r", Team: "cx-support"},
			msg: `deliver failure of rule "r": failure has no id`},
		{name: "ledger down", failure: failure, claim: errDown, is: errDown,
			msg: "claim delivery of failure f-1 to cx-support/slack: service unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &fakeNotifier{name: "slack"}
			fx := newFixture(n)
			fx.ledger.claimErr = tt.claim
			err := fx.svc.Deliver(context.Background(), tt.failure)
			if err == nil || err.Error() != tt.msg {
				t.Fatalf("Deliver error %v, want %q", err, tt.msg)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("Deliver error %v does not wrap %v", err, tt.is)
			}
			if n.called() != 0 {
				t.Fatal("Notify was called")
			}
		})
	}
}

func TestDeliverCancelledWhileWaitingReleasesClaim(t *testing.T) {
	n := &fakeNotifier{name: "slack", results: []result{{true, errDown}}}
	fx := newFixture(n)
	ctx, cancel := context.WithCancel(context.Background())
	fx.svc.Sleep = func(context.Context, time.Duration) error {
		cancel()
		return ctx.Err()
	}
	err := fx.svc.Deliver(ctx, failure)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errDown) {
		t.Fatalf("Deliver error %v, want both the cancellation and the send error", err)
	}
	// Released even though ctx ended, so the retry need not wait out the lease.
	if s := fx.ledger.state("f-1", "cx-support/slack"); s != "none" {
		t.Fatalf("ledger state %s, want none", s)
	}
}

func TestDeliverStopsRetryingAtTheDeadline(t *testing.T) {
	n := &fakeNotifier{name: "slack", results: []result{{true, errDown}, {true, errDown}}}
	fx := newFixture(n)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := fx.svc.Deliver(ctx, failure)
	if err == nil || !strings.Contains(err.Error(), "no time left") {
		t.Fatalf("Deliver error %v, want it to give up for lack of time", err)
	}
	if n.called() != 1 || len(fx.waits) != 0 {
		t.Fatalf("calls=%d waits=%v, want one call and no wait", n.called(), fx.waits)
	}
}

func TestKeyAttributes(t *testing.T) {
	got := KeyAttributes(map[string]any{
		"survey":  "nps",
		"score":   float64(3),
		"answers": map[string]any{"q1": "x"},
		"tags":    []any{"a"},
		"comment": strings.Repeat("slow ", 40),
		"paid":    true,
		"zeta":    "cut by the limit",
	}, 4)
	want := []Attribute{
		{"comment", strings.TrimSpace(strings.Repeat("slow ", 16)) + "…"},
		{"paid", "true"},
		{"score", "3"},
		{"survey", "nps"},
	}
	if len(got) != len(want) {
		t.Fatalf("KeyAttributes = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("attribute %d = %q, want %q", i, got[i], want[i])
		}
	}
}
