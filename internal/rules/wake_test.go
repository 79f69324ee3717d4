package rules

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
)

type wakeRecorder struct {
	mu   sync.Mutex
	keys []string
	at   []time.Time
}

func (w *wakeRecorder) Schedule(_ context.Context, key string, at time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.keys, w.at = append(w.keys, key), append(w.at, at)
	return nil
}

// A deadline hours away gets no wake-up when it is set: the scheduled run
// of the minute it comes within WakeHorizon arms one wake-up at it (the
// runs before and after arm none). The wake-up fires the deadline at its
// instant; wake-ups before it, repeated after it, or naming no state
// change nothing.
func TestDeadlineWakeup(t *testing.T) {
	h := newHarness(t, loadRules(t, absence), nil)
	w := &wakeRecorder{}
	h.svc.Wakeups = w
	ctx := context.Background()
	start := interaction(t, "t1", "ticket.created", "ann@example.com", DefaultTestStart, map[string]any{"ticket": "9"})
	for range 2 {
		if err := h.svc.Handle(ctx, start); err != nil {
			t.Fatal(err)
		}
	}
	deadline := DefaultTestStart.Add(4 * time.Hour)
	if len(w.keys) != 0 {
		t.Fatalf("wake-ups %v for a deadline 4 hours away, want none before it comes within %s", w.keys, WakeHorizon)
	}
	for _, before := range []time.Duration{WakeHorizon + time.Minute, WakeHorizon, WakeHorizon - time.Minute} {
		h.clock.set(deadline.Add(-before).Add(20 * time.Second))
		if err := h.svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.keys) != 1 || !w.at[0].Equal(deadline) {
		t.Fatalf("wake-ups %v at %v, want one at the deadline %s, armed by the run %s before it", w.keys, w.at, deadline, WakeHorizon)
	}
	key := w.keys[0]
	h.clock.set(deadline.Add(-time.Millisecond))
	if err := h.svc.Wake(ctx, key); err != nil {
		t.Fatal(err)
	}
	if len(h.mem.All()) != 0 {
		t.Fatal("a wake-up a millisecond early fired the deadline")
	}
	h.clock.set(deadline)
	for range 3 {
		if err := h.svc.Wake(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.svc.Wake(ctx, "no-space-in-this-key"); err != nil {
		t.Fatalf("a wake-up naming no state: %v", err)
	}
	if n := h.bus.count(events.TypeFailureDetected); n != 1 {
		t.Fatalf("failure.detected published %d times, want 1", n)
	}
	if f := h.mem.All()[0]; !f.DetectedAt.Equal(deadline) {
		t.Fatalf("detected at %s, want the deadline %s", f.DetectedAt, deadline)
	}
	if len(w.keys) != 1 {
		t.Fatalf("wake-ups %v after the deadline fired, want no more", w.keys)
	}
}

// A deadline set within WakeHorizon (an event handled late, a short
// deadline) is given its wake-up at once.
func TestNearDeadlineWakeupAtCommit(t *testing.T) {
	h := newHarness(t, loadRules(t, absence), nil)
	w := &wakeRecorder{}
	h.svc.Wakeups = w
	deadline := DefaultTestStart.Add(4 * time.Hour)
	h.clock.set(deadline.Add(-10 * time.Minute))
	start := interaction(t, "t1", "ticket.created", "ann@example.com", DefaultTestStart, map[string]any{"ticket": "9"})
	if err := h.svc.Handle(context.Background(), start); err != nil {
		t.Fatal(err)
	}
	if len(w.keys) != 1 || !w.at[0].Equal(deadline) {
		t.Fatalf("wake-ups %v at %v, want one at the deadline %s", w.keys, w.at, deadline)
	}
}
