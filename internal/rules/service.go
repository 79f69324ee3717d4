package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/wakeup"
)

// Service evaluates rules on bus events and on the schedule.
type Service struct {
	Engine *Engine
	Store  Store
	// Failures resolves failures whose condition cleared.
	Failures *failure.Service
	// Announcer publishes what a commit put in the failure outbox.
	Announcer *failure.Announcer
	// Customers, when set, resolves interactions to customer ids for
	// per-customer rules. Without it (rule unit tests) an interaction keys
	// by its identity fields.
	Customers Customers
	// Wakeups, when set, is asked to wake the function (Wake) at each
	// deadline a commit sets; without it deadlines wait for the next Tick.
	Wakeups wakeup.Scheduler
	Now     func() time.Time
	Log     *slog.Logger
}

// maxAttempts bounds re-evaluations of an event whose state another
// invocation changed meanwhile.
const maxAttempts = 8

// maxApplied is how many of the latest events a state remembers applying.
// Redeliveries and retries come within minutes, long before a key sees
// this many other events.
const maxApplied = 20

// Handle evaluates one EventBridge event: a bus event against the rules,
// or the schedule's tick.
func (s *Service) Handle(ctx context.Context, env events.Envelope) error {
	if env.IsTick() {
		return s.Tick(ctx)
	}
	ev, err := DecodeEvent(env)
	if err != nil {
		return err
	}
	hits, err := s.Engine.Match(ev)
	if err != nil || len(hits) == 0 {
		return err
	}
	if err := s.resolveCustomer(ctx, &ev, hits); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := s.apply(ctx, ev, hits)
		if errors.Is(err, ErrConflict) && attempt < maxAttempts {
			s.Log.Debug("rule state changed concurrently; evaluating again", "event_id", ev.ID, "attempt", attempt)
			continue
		}
		if err != nil {
			return fmt.Errorf("apply event %s (%s) to rules: %w", ev.ID, ev.Type, err)
		}
		return nil
	}
}

func (s *Service) apply(ctx context.Context, ev Event, hits []Hit) error {
	now := s.Now()
	var c Commit
	type planned struct {
		hit Hit
		key StateKey
	}
	var plan []planned
	var keys []StateKey
	for _, h := range hits {
		key := h.Rule.key.eval(ev.doc)
		if key == "" {
			s.Log.Info("event has no value for the rule's key; rule skipped", "event_id", ev.ID, "type", ev.Type, "rule", h.Rule.ID, "key", h.Rule.Key)
			continue
		}
		if h.Rule.Kind == KindRate {
			t := Tally{Rule: h.Rule.ID, Key: key, Minute: ev.At.Truncate(time.Minute)}
			if h.Roles[rolePattern] {
				t.Bad = 1
				evidence := ev.Evidence
				t.Last = &evidence
			}
			if h.Roles[roleOf] {
				t.Total = 1
			}
			// Counting is idempotent on its own, so it need not wait for
			// the other rules' commit.
			if err := s.Store.Count(ctx, t, ev.ID); err != nil {
				return fmt.Errorf("count event for rule %s: %w", h.Rule.ID, err)
			}
			continue
		}
		k := StateKey{Rule: h.Rule.ID, Key: key}
		plan = append(plan, planned{h, k})
		keys = append(keys, k)
	}
	states := map[StateKey]State{}
	if len(keys) > 0 {
		var err error
		if states, err = s.Store.Load(ctx, keys); err != nil {
			return fmt.Errorf("load rule state: %w", err)
		}
	}
	for _, p := range plan {
		st := states[p.key]
		if slices.Contains(st.Applied, ev.ID) {
			continue
		}
		o := p.hit.Rule.onEvent(st, ev, p.hit.Roles, p.key.Key, now)
		if o.changed {
			o.state.Applied = append(slices.Clone(st.Applied), ev.ID)
			if n := len(o.state.Applied); n > maxApplied {
				o.state.Applied = o.state.Applied[n-maxApplied:]
			}
		}
		if err := s.collect(ctx, &c, p.hit.Rule, p.key, o); err != nil {
			return err
		}
	}
	if c.empty() {
		return nil
	}
	if err := s.Store.Commit(ctx, c); err != nil {
		return err
	}
	s.wakeAt(ctx, c, states, now)
	return s.announce(ctx, c)
}

// collect adds an outcome to the commit. A failure whose condition cleared
// is resolved first: were the commit to fail after, evaluating again finds
// it still open in the state and resolving it again changes nothing.
func (s *Service) collect(ctx context.Context, c *Commit, r *Rule, k StateKey, o outcome) error {
	if o.resolve != "" {
		f, err := s.Failures.Resolve(ctx, o.resolve, r.actor(), o.note)
		switch {
		case errors.Is(err, failure.ErrNotFound):
			s.Log.Warn("failure to resolve is gone", "failure_id", o.resolve, "rule", r.ID)
		case err != nil:
			return fmt.Errorf("resolve failure %s of rule %s: %w", o.resolve, r.ID, err)
		default:
			s.Log.Info("failure resolved", "failure_id", f.ID, "rule", r.ID, "key", k.Key, "note", o.note)
		}
	}
	if !o.changed {
		return nil
	}
	c.States = append(c.States, Keyed{StateKey: k, State: o.state})
	if o.raise != nil {
		c.Failures = append(c.Failures, *o.raise)
		c.Messages = append(c.Messages, messages(*o.raise, s.Now())...)
		s.Log.Info("failure detected", "failure_id", o.raise.ID, "rule", r.ID, "team", r.Team, "key", k.Key, "state", o.raise.State)
	}
	if o.repeat != "" {
		c.Repeats = append(c.Repeats, Repeat{Failure: o.repeat, At: o.state.lastSeen()})
	}
	return nil
}

// lastSeen is the newest time a state knows of, for a repeat's last seen.
func (st State) lastSeen() time.Time {
	t := st.Raised
	for _, e := range st.Events {
		if e.OccurredAt.After(t) {
			t = e.OccurredAt
		}
	}
	return t
}

// messages announces a new failure: failure.detected with the record as it
// opened and, when it was raised already resolved, failure.resolved too.
func messages(f events.Failure, now time.Time) []failure.Message {
	if f.State == failure.Open {
		return []failure.Message{failure.NewMessage(f, now)}
	}
	opened := f
	opened.State, opened.History = failure.Open, f.History[:1]
	return []failure.Message{failure.NewMessage(opened, now), failure.NewMessage(f, now)}
}

func (s *Service) announce(ctx context.Context, c Commit) error {
	if err := s.Announcer.Send(ctx, c.Messages...); err != nil {
		// Committed: the schedule publishes the messages once their lease
		// lapses. The error makes the invocation fail so it is seen.
		return fmt.Errorf("announce failures (the schedule will): %w", err)
	}
	return nil
}

// TickResult says what one scheduled run did.
type TickResult struct {
	Timers    int // deadlines looked at
	Armed     int // wake-ups scheduled for deadlines coming within WakeHorizon
	Rates     int // rate keys evaluated
	Published int // outbox messages their writer had left behind
}

// maxDuePerTick bounds the timers one run fires, so a backlog is worked
// off over several runs inside the function's timeout.
const maxDuePerTick = 1000

// Tick is the scheduled run: it fires deadlines that came due, arms the
// wake-ups of those coming within WakeHorizon, evaluates rate windows,
// and publishes failure events whose writer stopped before
// publishing them.
func (s *Service) Tick(ctx context.Context) error {
	now := s.Now()
	var res TickResult
	var errs []error
	for res.Timers < maxDuePerTick {
		due, err := s.Store.Due(ctx, now, 100)
		if err != nil {
			errs = append(errs, fmt.Errorf("list due rule timers: %w", err))
			break
		}
		progressed := false
		for _, k := range due {
			r, _ := s.Engine.Rule(k.Rule)
			res.Timers++
			done, err := s.fire(ctx, r, k, now)
			if err != nil {
				errs = append(errs, err)
			}
			progressed = progressed || done
		}
		// A short page is the last; a page of timers another run fired
		// meanwhile (a stale listing) is left to the next run.
		if len(due) < 100 || !progressed {
			break
		}
	}
	armed, err := s.arm(ctx, now)
	res.Armed = armed
	if err != nil {
		errs = append(errs, err)
	}
	for i := range s.Engine.rules {
		r := &s.Engine.rules[i]
		if r.Kind != KindRate {
			continue
		}
		n, err := s.rates(ctx, r, now)
		res.Rates += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	sent, err := s.Announcer.Flush(ctx, now)
	res.Published = sent
	if err != nil {
		errs = append(errs, err)
	}
	s.Log.Info("rules tick", "timers", res.Timers, "armed", res.Armed, "rates", res.Rates, "published", res.Published, "errors", len(errs))
	return errors.Join(errs...)
}

// fire handles one due state. A rule removed from the configuration has
// its timer cleared. It reports whether the state left the due list.
func (s *Service) fire(ctx context.Context, r *Rule, k Keyed, now time.Time) (bool, error) {
	st := k.State
	for attempt := 1; ; attempt++ {
		var o outcome
		if r == nil {
			o = outcome{state: st, changed: true}
			o.state.Due, o.state.Open = time.Time{}, false
		} else {
			o = r.onTimer(st, k.Key, now)
		}
		if !o.changed {
			return false, nil
		}
		c := Commit{}
		if err := s.collect(ctx, &c, r, k.StateKey, o); err != nil {
			return false, err
		}
		err := s.Store.Commit(ctx, c)
		if errors.Is(err, ErrConflict) && attempt < maxAttempts {
			// The listing was stale or an event moved the state on: read
			// it as it is now and decide again.
			states, lerr := s.Store.Load(ctx, []StateKey{k.StateKey})
			if lerr != nil {
				return false, fmt.Errorf("reload rule state %s/%s: %w", k.Rule, k.Key, lerr)
			}
			st = states[k.StateKey]
			continue
		}
		if err != nil {
			return false, fmt.Errorf("fire timer of rule %s for %s: %w", k.Rule, k.Key, err)
		}
		s.wakeAt(ctx, c, map[StateKey]State{k.StateKey: st}, now)
		return true, s.announce(ctx, c)
	}
}

// rates evaluates a rate rule's window for every key that has events in it
// or an open failure.
func (s *Service) rates(ctx context.Context, r *Rule, now time.Time) (int, error) {
	open, err := s.Store.Watched(ctx, r.ID)
	if err != nil {
		return 0, fmt.Errorf("list open rate failures of rule %s: %w", r.ID, err)
	}
	since := now.Truncate(time.Minute).Add(-r.Window + time.Minute)
	tallies, err := s.Store.Tallies(ctx, r.ID, since)
	if err != nil {
		return 0, fmt.Errorf("read tallies of rule %s: %w", r.ID, err)
	}
	windows := map[string]*window{}
	for _, t := range tallies {
		if t.Minute.After(now) {
			continue
		}
		w := windows[t.Key]
		if w == nil {
			w = &window{}
			windows[t.Key] = w
		}
		w.bad += t.Bad
		w.total += t.Total
		if t.Last != nil {
			w.recent = append(w.recent, *t.Last)
		}
	}
	var keys []StateKey
	for key, w := range windows {
		if w.total >= int64(r.MinVolume) && float64(w.bad) > r.Threshold*float64(w.total) {
			keys = append(keys, StateKey{Rule: r.ID, Key: key})
		}
	}
	for _, k := range open {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return 0, nil
	}
	var errs []error
	for attempt := 1; len(keys) > 0 && attempt <= maxAttempts; attempt++ {
		states, err := s.Store.Load(ctx, keys)
		if err != nil {
			return 0, fmt.Errorf("load rate state of rule %s: %w", r.ID, err)
		}
		var retry []StateKey
		for _, k := range keys {
			w := windows[k.Key]
			if w == nil {
				w = &window{}
			}
			// Newest events first, as a person reads them.
			slices.SortFunc(w.recent, func(a, b events.Evidence) int { return b.OccurredAt.Compare(a.OccurredAt) })
			if len(w.recent) > maxRateEvidence {
				w.recent = w.recent[:maxRateEvidence]
			}
			o := r.onRate(states[k], k.Key, *w, now)
			c := Commit{}
			if err := s.collect(ctx, &c, r, k, o); err != nil {
				errs = append(errs, err)
				continue
			}
			if c.empty() {
				continue
			}
			err := s.Store.Commit(ctx, c)
			if errors.Is(err, ErrConflict) {
				retry = append(retry, k)
				continue
			}
			if err == nil {
				err = s.announce(ctx, c)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("rate of rule %s for %s: %w", r.ID, k.Key, err))
			}
		}
		keys = retry
	}
	return len(windows), errors.Join(errs...)
}
