package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dispatch"
	"github.com/ocxhq/ocx/internal/labels"
	"github.com/ocxhq/ocx/internal/silence"
	"github.com/ocxhq/ocx/internal/team"
)

// In-memory collaborators for the Service's retry behaviour; the DynamoDB
// stores are tested against moto, and the whole path in the local stack.

type memGroups struct {
	mu      sync.Mutex
	groups  map[string]Group
	members map[string][]Member
}

func (m *memGroups) AddMember(_ context.Context, key string, f events.Failure, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.members[key] {
		if x.Failure.ID == f.ID {
			return false, nil
		}
	}
	m.members[key] = append(m.members[key], Member{Failure: f, AddedAt: at})
	return true, nil
}

func (m *memGroups) UpdateMember(context.Context, string, events.Failure) (bool, error) {
	return false, nil
}

func (m *memGroups) Group(_ context.Context, key string) (Group, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.groups[key]
	return g, ok, nil
}

func (m *memGroups) GroupMembers(_ context.Context, key string) ([]Member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Member(nil), m.members[key]...), nil
}

func (m *memGroups) SaveGroup(_ context.Context, g Group) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.groups[g.Key].Version != g.Version {
		return ErrConflict
	}
	g.Version++
	m.groups[g.Key] = g
	return nil
}

func (m *memGroups) Due(_ context.Context, now time.Time) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k, g := range m.groups {
		if !g.Due.IsZero() && !g.Due.After(now) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (m *memGroups) PutSource(context.Context, events.Failure) error { return nil }
func (m *memGroups) DeleteSource(context.Context, string) error      { return nil }
func (m *memGroups) Sources(context.Context) (map[string]labels.Set, error) {
	return nil, nil
}

type noSilences struct{}

func (noSilences) List(context.Context) ([]silence.Silence, error) { return nil, nil }

type memLedger struct {
	mu   sync.Mutex
	sent map[string]bool
	held map[string]time.Time
}

func (l *memLedger) Claim(_ context.Context, d, r string, now, until time.Time) (Claim, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := d + "|" + r
	if l.sent[k] {
		return AlreadySent, nil
	}
	if u, ok := l.held[k]; ok && now.Before(u) {
		return Held, nil
	}
	l.held[k] = until
	return Granted, nil
}

func (l *memLedger) MarkSent(_ context.Context, d, r string, _ time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[d+"|"+r] = true
	delete(l.held, d+"|"+r)
	return nil
}

func (l *memLedger) Release(_ context.Context, d, r string, until time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[d+"|"+r].Equal(until) {
		delete(l.held, d+"|"+r)
	}
	return nil
}

type memDead struct{ letters []DeadLetter }

func (d *memDead) SendJSON(_ context.Context, v any) error {
	d.letters = append(d.letters, v.(DeadLetter))
	return nil
}

type memNotes struct{ notes map[string][]string }

func (n *memNotes) Note(_ context.Context, id, text string, _ time.Time) error {
	n.notes[id] = append(n.notes[id], text)
	return nil
}

// flaky is a Slack that is down (503) until up is set; retryAfter, when
// set, is what it asks senders to wait.
type flaky struct {
	mu         sync.Mutex
	up         bool
	retryAfter time.Duration
	tries      int
	delivered  map[string]int // phase#group -> deliveries
}

func (f *flaky) Name() string { return "slack" }

func (f *flaky) Notify(_ context.Context, n Notification) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries++
	if !f.up {
		err := errors.New("slack answered 503")
		if f.retryAfter > 0 {
			return true, &RetryAfterError{After: f.retryAfter, Err: err}
		}
		return true, err
	}
	f.delivered[n.GroupKey+" "+n.Phase]++
	return false, nil
}

type retryFixture struct {
	svc   *Service
	clock *time.Time
	slack *flaky
	dead  *memDead
	notes *memNotes
	store *memGroups
}

func newRetryFixture(t *testing.T) retryFixture {
	t.Helper()
	now := t0
	f := retryFixture{clock: &now, slack: &flaky{delivered: map[string]int{}}, dead: &memDead{}, notes: &memNotes{notes: map[string][]string{}},
		store: &memGroups{groups: map[string]Group{}, members: map[string][]Member{}}}
	f.svc = &Service{
		Teams:  team.NewRegistry(team.Team{ID: "support", Slack: "support"}),
		Routes: dispatch.Default(), Groups: f.store, Silences: noSilences{}, Notifiers: []Notifier{f.slack},
		Ledger: &memLedger{sent: map[string]bool{}, held: map[string]time.Time{}}, Dead: f.dead, Notes: f.notes,
		Now: func() time.Time { return *f.clock }, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sleep: func(context.Context, time.Duration) error { return nil },
	}
	return f
}

func (f retryFixture) detect(t *testing.T, id, rule string) {
	t.Helper()
	err := f.svc.Observe(context.Background(), events.TypeFailureDetected, events.Failure{ID: id, RuleID: rule, Team: "support", Severity: "warning",
		DetectedAt: *f.clock, State: "open", Labels: map[string]string{"rule": rule, "team": "support", "severity": "warning"}})
	if err != nil {
		t.Fatal(err)
	}
}

func (f retryFixture) flushAt(t *testing.T, at time.Time) {
	t.Helper()
	*f.clock = at
	if err := f.svc.Flush(context.Background()); err != nil {
		t.Fatalf("flush at %s: %v", at.Sub(t0), err)
	}
}

// A Slack outage of a minute during a burst: nothing is dead-lettered, no
// flush fails, and once Slack is back every group is delivered exactly
// once within minutes, long before the 4-hour reminder.
func TestOutageOfAMinuteDeliversEveryGroupOnceAfterwards(t *testing.T) {
	f := newRetryFixture(t)
	for i := range 30 {
		f.detect(t, fmt.Sprintf("flr_%02d", i), fmt.Sprintf("rule.r%d", i%3))
	}
	// group_wait is 30 s; the flush runs every minute.
	f.flushAt(t, t0.Add(time.Minute))
	if len(f.dead.letters) != 0 || len(f.slack.delivered) != 0 {
		t.Fatalf("during the outage: %d dead letters, %d delivered", len(f.dead.letters), len(f.slack.delivered))
	}
	for k, g := range f.store.groups {
		if g.Due.IsZero() || g.Due.After(t0.Add(2*time.Minute)) || g.Retries != 1 || g.LastError == "" {
			t.Fatalf("group %s after a failed flush: due %v, retries %d, error %q", k, g.Due.Sub(t0), g.Retries, g.LastError)
		}
	}
	f.slack.up = true
	for m := 2; m <= 10; m++ {
		f.flushAt(t, t0.Add(time.Duration(m)*time.Minute))
	}
	if len(f.slack.delivered) != 3 {
		t.Fatalf("delivered %v, want the 3 groups", f.slack.delivered)
	}
	for k, n := range f.slack.delivered {
		if n != 1 {
			t.Fatalf("%s delivered %d times", k, n)
		}
	}
	for k, g := range f.store.groups {
		if !g.RetryingSince.IsZero() || g.Retries != 0 || g.Fired != 1 || g.LastFired.After(t0.Add(3*time.Minute)) {
			t.Fatalf("group %s after recovery: %+v", k, g)
		}
	}
}

// Retries go on with growing waits that honour Retry-After, for
// RetryFor; a send still failing then goes to the dead-letter queue,
// counted, and noted on each of its failures.
func TestOutageLongerThanRetryForIsDeadLetteredAndNoted(t *testing.T) {
	f := newRetryFixture(t)
	f.slack.retryAfter = 20 * time.Minute
	f.detect(t, "flr_1", "rule.x")
	f.flushAt(t, t0.Add(time.Minute))
	g := f.store.groups[firstKey(f.store)]
	if got := g.Due.Sub(t0.Add(time.Minute)); got < 20*time.Minute {
		t.Fatalf("next try after %s, want at least the 20m Retry-After", got)
	}
	flushes := 1
	for at := t0.Add(2 * time.Minute); at.Before(t0.Add(DefaultRetryFor + 30*time.Minute)); at = at.Add(time.Minute) {
		before := f.slack.tries
		f.flushAt(t, at)
		if f.slack.tries > before {
			flushes++
		}
	}
	if len(f.dead.letters) != 1 || f.dead.letters[0].Phase != "firing#1" {
		t.Fatalf("dead letters %+v after %d flushes that tried", f.dead.letters, flushes)
	}
	if flushes < 4 || flushes > 10 {
		t.Fatalf("%d flushes tried in %s, want a handful spaced by Retry-After", flushes, DefaultRetryFor)
	}
	if len(f.notes.notes["flr_1"]) != 1 {
		t.Fatalf("notes on the failure: %v", f.notes.notes)
	}
	// Parked: Slack coming back does not send it again on top of a replay.
	f.slack.up = true
	f.flushAt(t, t0.Add(DefaultRetryFor+time.Hour))
	if len(f.slack.delivered) != 0 {
		t.Fatalf("dead-lettered notification sent again: %v", f.slack.delivered)
	}
}

func firstKey(m *memGroups) string {
	for k := range m.groups {
		return k
	}
	return ""
}

// countingGroups counts the group saves of memGroups.
type countingGroups struct {
	*memGroups
	saves int
}

func (c *countingGroups) SaveGroup(ctx context.Context, g Group) error {
	c.saves++
	return c.memGroups.SaveGroup(ctx, g)
}

// A burst of failures joining one group within its group_wait writes the
// group once; every member is still in the one notification its flush
// sends, and a failure joining after that flush writes the group again.
func TestBurstWritesItsGroupOnce(t *testing.T) {
	f := newRetryFixture(t)
	f.slack.up = true
	cg := &countingGroups{memGroups: f.store}
	f.svc.Groups = cg
	for i := range 20 {
		*f.clock = t0.Add(time.Duration(i) * time.Second)
		f.detect(t, fmt.Sprintf("flr_%02d", i), "nps.detractor")
	}
	if cg.saves != 1 {
		t.Fatalf("%d group saves for a burst of 20 in one group, want 1", cg.saves)
	}
	var sent []Notification
	f.svc.Notifiers = []Notifier{recordingNotifier{flaky: f.slack, seen: &sent}}
	f.flushAt(t, t0.Add(time.Minute))
	if len(sent) != 1 || len(sent[0].Failures) != 20 {
		t.Fatalf("sent %d notifications (%v), want one with the 20 failures", len(sent), sent)
	}
	saves := cg.saves
	*f.clock = t0.Add(2 * time.Minute)
	f.detect(t, "flr_late", "nps.detractor")
	if cg.saves != saves+1 {
		t.Fatalf("a failure joining after the flush saved the group %d times, want once", cg.saves-saves)
	}
}
