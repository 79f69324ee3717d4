package rules

import (
	"context"
	"fmt"
	"strings"
	"time"
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

// wakeAt asks for a wake-up at each deadline a commit set or moved, so it
// fires at its instant rather than at the next sweep. A wake-up that
// cannot be scheduled is logged, not returned: the deadline is stored
// and the rule-timers sweep fires it.
func (s *Service) wakeAt(ctx context.Context, c Commit, before map[StateKey]State, now time.Time) {
	if s.Wakeups == nil {
		return
	}
	for _, k := range c.States {
		due := k.State.Due
		if due.IsZero() || !due.After(now) || due.Equal(before[k.StateKey].Due) {
			continue
		}
		if err := s.Wakeups.Schedule(ctx, WakeKey(k.StateKey), due); err != nil {
			s.Log.Error("schedule deadline wake-up; the sweep will fire it", "rule", k.Rule, "due", due, "err", err)
		}
	}
}
