package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/wakeup"
)

// WakeKey names one rule's state for one key in a wake-up: the rule id
// (which has no spaces), a space, the key.
func WakeKey(k StateKey) string { return k.Rule + " " + k.Key }

// Wake fires the deadline a wake-up names, if it is due. A wake-up that
// arrives early, twice or after its deadline moved or fired finds nothing
// due and changes nothing: the state's version guards the commit.
func (s *Service) Wake(ctx context.Context, key string) error {
	rule, k, ok := strings.Cut(key, " ")
	if !ok || rule == "" || k == "" {
		s.Log.Error("wake-up names no rule state; dropped", "key", key)
		return nil
	}
	sk := StateKey{Rule: rule, Key: k}
	states, err := s.Store.Load(ctx, []StateKey{sk})
	if err != nil {
		return fmt.Errorf("load rule state %s/%s for its wake-up: %w", rule, k, err)
	}
	st, now := states[sk], s.Now()
	if st.Due.IsZero() || st.Due.After(now) {
		return nil
	}
	r, _ := s.Engine.Rule(rule)
	_, err = s.fire(ctx, r, Keyed{StateKey: sk, State: st}, now)
	return err
}

// WakeHorizon is how far ahead a deadline gets its wake-up: SQS holds a
// message at most this long, so one message carries it. A deadline further
// off (a two-day SLA) is armed by the scheduled run of the minute it comes
// within the horizon (arm), not carried in 15-minute hops for days — most
// such deadlines are met and cleared long before, and a hop costs a send,
// a receive and a share of an invocation every quarter of an hour.
const WakeHorizon = wakeup.MaxDelay

// wakeAt asks for a wake-up at each deadline a commit set or moved within
// WakeHorizon, so it fires at its instant rather than at the next sweep. A
// wake-up that cannot be scheduled is logged, not returned: the deadline
// is stored and the rule-timers sweep fires it.
func (s *Service) wakeAt(ctx context.Context, c Commit, before map[StateKey]State, now time.Time) {
	if s.Wakeups == nil {
		return
	}
	for _, k := range c.States {
		due := k.State.Due
		if due.IsZero() || !due.After(now) || due.After(now.Add(WakeHorizon)) || due.Equal(before[k.StateKey].Due) {
			continue
		}
		if err := s.Wakeups.Schedule(ctx, WakeKey(k.StateKey), due); err != nil {
			s.Log.Error("schedule deadline wake-up; the sweep will fire it", "rule", k.Rule, "due", due, "err", err)
		}
	}
}

// maxArmPerTick bounds the wake-ups one run arms; deadlines past it fire
// at the sweep after they come due, at most a minute late.
const maxArmPerTick = 2000

// arm schedules the wake-ups of the deadlines that come within WakeHorizon
// during this run's minute: those due in (m+WakeHorizon-1m, m+WakeHorizon],
// m the minute now falls in. Runs a minute apart cover every deadline
// once; a run that is missed leaves its minute's deadlines to the sweep,
// which fires them at most a minute late. A deadline also armed at its
// commit gets a second wake-up, which finds it fired and does nothing.
func (s *Service) arm(ctx context.Context, now time.Time) (int, error) {
	if s.Wakeups == nil {
		return 0, nil
	}
	through := now.Truncate(time.Minute).Add(WakeHorizon)
	ks, err := s.Store.Upcoming(ctx, through.Add(-time.Minute), through, maxArmPerTick)
	if err != nil {
		return 0, fmt.Errorf("list deadlines coming within %s: %w", WakeHorizon, err)
	}
	var errs []error
	for _, k := range ks {
		if err := s.Wakeups.Schedule(ctx, WakeKey(k.StateKey), k.State.Due); err != nil {
			errs = append(errs, fmt.Errorf("arm the wake-up of %s/%s: %w", k.Rule, k.Key, err))
		}
	}
	return len(ks), errors.Join(errs...)
}
