// Package wakeup is the port through which a function asks to be woken at
// an instant: a notification group falling due, a rule's deadline. The
// domain says what and when; an adapter (internal/wakequeue: an SQS delay
// queue in AWS and, through the local stack's event-source emulation, on
// the machine) hands it back to the same function at that time.
//
// Wake-ups are hints, not state: the store says whether something is due.
// One may arrive twice, late or for a moment that has since moved; the
// consumer reads the state and does nothing when nothing is due. A lost
// one is caught by the function's slow safety sweep.
package wakeup

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Scheduler arranges for key to be handed back to its consumer at at.
type Scheduler interface {
	Schedule(ctx context.Context, key string, at time.Time) error
}

// Wakeup is one scheduled wake-up as it travels: what to look at and the
// instant it is for.
type Wakeup struct {
	Key string    `json:"key"`
	At  time.Time `json:"at"`
}

// Encode is the message body of w.
func Encode(w Wakeup) (string, error) {
	raw, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("encode wake-up %s: %w", w.Key, err)
	}
	return string(raw), nil
}

// Decode reads a message body written by Encode.
func Decode(body string) (Wakeup, error) {
	var w Wakeup
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		return w, fmt.Errorf("decode wake-up: %w", err)
	}
	if w.Key == "" || w.At.IsZero() {
		return w, fmt.Errorf("decode wake-up: want a key and an instant, got %q", body)
	}
	return w, nil
}

// MaxDelay is the longest one hop waits: SQS's DelaySeconds limit. A
// wake-up further off travels in hops; each hop that arrives before its
// instant is scheduled again for the rest.
const MaxDelay = 15 * time.Minute

// Delay is how long to hold a wake-up for at, sent at now: rounded up to
// whole seconds (so it never arrives before its instant) and at most
// MaxDelay.
func Delay(at, now time.Time) time.Duration {
	d := at.Sub(now)
	if d <= 0 {
		return 0
	}
	d = (d + time.Second - 1).Truncate(time.Second)
	return min(d, MaxDelay)
}

// Func is a consumer's handling of a wake-up that came due.
type Func func(ctx context.Context, key string) error

// Deliver handles one arrived wake-up: one whose instant is still ahead
// (a hop of a long wait, or a clock that runs behind) is scheduled again
// for the rest; one that is due goes to wake.
func Deliver(ctx context.Context, w Wakeup, now time.Time, s Scheduler, wake Func) error {
	if w.At.After(now) {
		if err := s.Schedule(ctx, w.Key, w.At); err != nil {
			return fmt.Errorf("schedule the next hop of wake-up %s: %w", w.Key, err)
		}
		return nil
	}
	return wake(ctx, w.Key)
}
