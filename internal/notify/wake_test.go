package notify

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dispatch"
)

// wakeRecorder keeps the wake-ups asked for.
type wakeRecorder struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func (w *wakeRecorder) Schedule(_ context.Context, key string, at time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.at[key] = append(w.at[key], at)
	return nil
}

// A group asks for one wake-up per due time — a burst of 200 failures is
// one, at the end of group_wait — and for the next (the reminder, a
// receiver's retry) each time it is flushed; wake-ups before the due time
// or after the flush send nothing.
func TestWakeupsFollowTheGroupsDueTimes(t *testing.T) {
	f := newRetryFixture(t)
	w := &wakeRecorder{at: map[string][]time.Time{}}
	f.svc.Wakeups = w
	ctx := context.Background()
	f.slack.up = true
	for i := range 200 {
		f.detect(t, fmt.Sprint("flr_", i), "nps.detractor")
	}
	key := firstKey(f.store)
	due := t0.Add(dispatch.DefaultGroupWait)
	if got := w.at[key]; len(got) != 1 || !got[0].Equal(due) {
		t.Fatalf("wake-ups after a burst: %v, want one at group_wait (%s)", got, due)
	}
	*f.clock = due.Add(-time.Millisecond)
	if err := f.svc.Wake(ctx, key); err != nil {
		t.Fatal(err)
	}
	if n := f.slack.delivered[key+" firing#1"]; n != 0 {
		t.Fatalf("%d deliveries from a wake-up a millisecond early", n)
	}
	*f.clock = due
	for range 3 {
		if err := f.svc.Wake(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.slack.delivered[key+" firing#1"]; n != 1 || f.slack.tries != 1 {
		t.Fatalf("%d deliveries (%d tries) from three wake-ups at the due time, want 1", n, f.slack.tries)
	}
	reminder := due.Add(dispatch.DefaultRepeatInterval)
	if got := w.at[key]; len(got) != 2 || !got[1].Equal(reminder) {
		t.Fatalf("wake-ups after the first message: %v, want the reminder at %s", got, reminder)
	}

	// Slack is down at the reminder: the group is kept due for a retry,
	// and a wake-up is asked for exactly then.
	f.slack.up = false
	*f.clock = reminder
	if err := f.svc.Wake(ctx, key); err != nil {
		t.Fatal(err)
	}
	g := f.store.groups[key]
	if got := w.at[key]; len(got) != 3 || g.Retries != 1 || !got[2].Equal(g.Due) || !g.Due.After(reminder) {
		t.Fatalf("wake-ups after a failed reminder: %v, group due %s after %d retries", got, g.Due, g.Retries)
	}
}
