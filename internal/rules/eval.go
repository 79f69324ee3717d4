package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/failure"
)

// Windows are half-open: events t1 <= t2 are "within W" when t2 - t1 < W,
// so two events exactly a window apart are not. Times are when events
// happened (occurred_at), not when they arrived, so late and out-of-order
// deliveries are judged as they happened.

// maxEntries bounds the events a count or sequence state keeps per key.
const maxEntries = 100

// openRetention is how long a state with a pending deadline or an open
// failure is kept, so a follow-up arriving late can still resolve it.
const openRetention = 30 * 24 * time.Hour

// outcome is what evaluating a rule for one key decided.
type outcome struct {
	state   State
	changed bool
	// raise is a new failure; it may arrive already resolved, when the
	// condition was met and cleared before anyone looked.
	raise *events.Failure
	// repeat is an existing failure seen again within the cooldown.
	repeat string
	// resolve is an open failure whose condition cleared, and why.
	resolve, note string
}

// admit reports whether a condition met at t raises a new failure rather
// than counting as another occurrence of the key's last one.
func (r *Rule) admit(st State, t time.Time) bool {
	if st.Failure == "" || r.Cooldown <= 0 {
		return true
	}
	d := t.Sub(st.Raised)
	if d < 0 {
		d = -d
	}
	return d >= r.Cooldown
}

// trigger raises a failure or counts a repeat, recording which in st.
func (r *Rule) trigger(o *outcome, key, cause string, evidence []events.Evidence, customerID, summary string, at, now time.Time) {
	o.changed = true
	if !r.admit(o.state, at) {
		o.repeat = o.state.Failure
		return
	}
	f := r.failure(key, cause, evidence, customerID, summary, at, now)
	o.raise = &f
	o.state.Failure, o.state.Raised = f.ID, at
}

// failure builds the failure the rule raises for key. Its id is derived
// from the rule, the key and the events that caused it, so every retry of
// an evaluation raises the same failure.
func (r *Rule) failure(key, cause string, evidence []events.Evidence, customerID, summary string, seen, now time.Time) events.Failure {
	sum := sha256.Sum256([]byte(r.ID + "\x00" + key + "\x00" + cause))
	labels := map[string]string{"rule": r.ID, "team": r.Team, "severity": r.Severity}
	if n := len(evidence); n > 0 && evidence[n-1].Channel != "" {
		labels["channel"] = evidence[n-1].Channel
	}
	for k, v := range r.Labels {
		labels[k] = v
	}
	f := events.Failure{
		ID: "flr_" + hex.EncodeToString(sum[:12]), RuleID: r.ID, Description: r.Description,
		Severity: r.Severity, Team: r.Team, Runbook: r.Runbook, CustomerID: customerID, Labels: labels,
		DetectedAt: now.UTC(), Evidence: evidence, Key: key, Summary: summary, LastSeenAt: seen.UTC(),
		Policy: r.loopPolicy(),
	}
	return failure.Opened(f, r.actor())
}

// actor names the rule in a failure's history.
func (r *Rule) actor() string { return "rule " + r.ID }

// onEvent evaluates an event the rule matched in roles, for key.
func (r *Rule) onEvent(st State, ev Event, roles map[string]bool, key string, now time.Time) outcome {
	o := outcome{state: st}
	switch r.Kind {
	case KindMatch:
		r.trigger(&o, key, ev.ID, []events.Evidence{ev.Evidence}, ev.CustomerID, "an event matched", ev.At, now)
	case KindCount:
		r.count(&o, ev, key, now)
	case KindSequence:
		r.sequence(&o, ev, roles, key, now)
	case KindAbsence, KindStall:
		r.absence(&o, ev, roles, key, now)
	}
	if o.changed {
		o.state.Expires = r.expiry(o.state)
	}
	return o
}

// remember inserts ev into the state's events in time order, unless the
// state has it already, and drops what no window can reach any more.
func (r *Rule) remember(o *outcome, ev Event, role string) (index int, fresh bool) {
	evs := o.state.Events
	for _, e := range evs {
		if e.EventID == ev.ID && e.Role == role {
			return -1, false
		}
	}
	e := Entry{Role: role, Evidence: ev.Evidence}
	i, _ := slices.BinarySearchFunc(evs, ev.At, func(e Entry, t time.Time) int {
		if e.OccurredAt.After(t) {
			return 1
		}
		return -1 // equal times keep arrival order
	})
	evs = slices.Insert(slices.Clone(evs), i, e)
	// Keep twice the window behind the newest event, so an event arriving
	// up to a window late still finds its companions.
	newest := evs[len(evs)-1].OccurredAt
	cut := 0
	for cut < len(evs) && newest.Sub(evs[cut].OccurredAt) >= 2*r.Window {
		cut++
	}
	if n := len(evs) - cut; n > maxEntries {
		cut += n - maxEntries
	}
	if cut > i {
		// The event itself is too old to matter.
		return -1, false
	}
	o.state.Events = evs[cut:]
	o.changed = true
	return i - cut, true
}

func (r *Rule) count(o *outcome, ev Event, key string, now time.Time) {
	i, fresh := r.remember(o, ev, rolePattern)
	if !fresh {
		return
	}
	evs := o.state.Events
	n := int(r.Threshold)
	// Only windows holding the new event can have changed.
	for j := max(0, i-n+1); j <= i && j+n-1 < len(evs); j++ {
		if evs[j+n-1].OccurredAt.Sub(evs[j].OccurredAt) < r.Window {
			evidence := make([]events.Evidence, n)
			for k := range n {
				evidence[k] = evs[j+k].Evidence
			}
			summary := fmt.Sprintf("%d matching events within %s", n, r.Window)
			r.trigger(o, key, ev.ID, evidence, ev.CustomerID, summary, ev.At, now)
			return
		}
	}
}

func (r *Rule) sequence(o *outcome, ev Event, roles map[string]bool, key string, now time.Time) {
	// An event may play both parts; it is remembered once per part.
	var added []string
	for _, role := range []string{roleFirst, roleThen} {
		if roles[role] {
			if _, fresh := r.remember(o, ev, role); fresh {
				added = append(added, role)
			}
		}
	}
	within := func(first, then Entry) bool {
		d := then.OccurredAt.Sub(first.OccurredAt)
		return first.EventID != then.EventID && d >= 0 && d < r.Window
	}
	me := Entry{Evidence: ev.Evidence}
	var pair []Entry
	for _, role := range added {
		for _, e := range o.state.Events {
			switch {
			case role == roleThen && e.Role == roleFirst && within(e, me):
				// The latest first part before this one.
				pair = []Entry{e, me}
			case role == roleFirst && e.Role == roleThen && within(me, e) && pair == nil:
				// A then-part that arrived before its first part: the
				// earliest one after it.
				pair = []Entry{me, e}
			}
		}
		if pair != nil {
			break
		}
	}
	if pair == nil {
		return
	}
	summary := fmt.Sprintf("%s then %s within %s", pair[0].Type, pair[1].Type, r.Window)
	r.trigger(o, key, pair[0].EventID+"+"+pair[1].EventID, []events.Evidence{pair[0].Evidence, pair[1].Evidence},
		ev.CustomerID, summary, pair[1].OccurredAt, now)
}

// deadline is when the follow-up to a starting event is due: the time at
// the rule's Due path when the event has one, else Within after it.
func (r *Rule) deadline(ev Event) time.Time {
	if r.due != nil {
		for _, v := range leaves(ev.doc, r.due) {
			if s, ok := v.(string); ok {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					return t.UTC()
				}
			}
		}
	}
	if r.Within > 0 {
		return ev.At.Add(r.Within)
	}
	return time.Time{}
}

func (r *Rule) absence(o *outcome, ev Event, roles map[string]bool, key string, now time.Time) {
	st := &o.state
	// The follow-up first: an event that leaves one stage and enters the
	// next (a journey stage change) ends one deadline and starts another.
	if roles[roleUntil] {
		if p := st.Pending; p != nil && p.EventID != ev.ID && !ev.At.Before(p.OccurredAt) {
			// The pending stage was left when a later one was entered,
			// which a journey's completion evaluated before the stage
			// change that preceded it says too.
			left := ev.At
			if e := r.enteredAt(ev); e.After(p.OccurredAt) && e.Before(left) {
				left = e
			}
			switch {
			case st.Open:
				o.resolve = st.Failure
				o.note = fmt.Sprintf("the condition cleared: %s %s at %s", ev.Type, ev.ID, ev.At.Format(time.RFC3339))
				st.Open = false
			case !st.Due.IsZero() && !left.Before(st.Due):
				// Followed up, but after the deadline and before the
				// schedule noticed: the deadline was still missed.
				cause := p.EventID
				r.trigger(o, key, cause, []events.Evidence{p.Evidence, ev.Evidence}, ev.CustomerID,
					fmt.Sprintf("followed up at %s, after the deadline %s", ev.At.Format(time.RFC3339), st.Due.Format(time.RFC3339)), st.Due, now)
				if o.raise != nil {
					resolved, _, _ := failure.Move(*o.raise, failure.Resolved, r.actor(), now, "followed up after the deadline by "+ev.Type+" "+ev.ID)
					o.raise = &resolved
				}
			}
			st.Pending, st.Due = nil, time.Time{}
			o.changed = true
		}
		if ev.At.After(st.Cleared) {
			st.Cleared, st.ClearedBy, st.ClearedFrom = ev.At, ev.ID, r.enteredAt(ev)
			o.changed = true
		}
	}
	if roles[rolePattern] {
		followed := ev.At.Before(st.Cleared) || (ev.At.Equal(st.Cleared) && st.ClearedBy != ev.ID)
		if followed && !st.Open && r.entered != nil && ev.At.Equal(st.ClearedFrom) {
			// A start evaluated after the follow-up that ended its own
			// stage: that stage was held until Cleared.
			if due := r.deadline(ev); !due.IsZero() && !st.Cleared.Before(due) {
				r.trigger(o, key, ev.ID, []events.Evidence{ev.Evidence}, ev.CustomerID,
					fmt.Sprintf("left at %s, after the deadline %s", st.Cleared.Format(time.RFC3339), due.Format(time.RFC3339)), due, now)
				if o.raise != nil {
					resolved, _, _ := failure.Move(*o.raise, failure.Resolved, r.actor(), now, "left after the deadline by "+st.ClearedBy)
					o.raise = &resolved
				}
			}
		}
		if followed || st.Open {
			return
		}
		if p := st.Pending; p != nil && (p.EventID == ev.ID || !ev.At.Before(p.OccurredAt)) {
			// The earliest start stands: a later one does not move the
			// deadline.
			return
		}
		due := r.deadline(ev)
		if due.IsZero() {
			return
		}
		st.Pending = &Entry{Role: rolePattern, Evidence: ev.Evidence}
		st.Due = due
		o.changed = true
	}
}

// enteredAt is when the stage a stall rule's event ends or enters was
// entered; zero for other kinds.
func (r *Rule) enteredAt(ev Event) time.Time {
	if r.entered == nil {
		return time.Time{}
	}
	for _, v := range leaves(ev.doc, r.entered) {
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t.UTC()
			}
		}
	}
	return time.Time{}
}

// onTimer fires the key's deadline if it came due by now.
func (r *Rule) onTimer(st State, key string, now time.Time) outcome {
	o := outcome{state: st}
	if st.Due.IsZero() || st.Due.After(now) {
		return o
	}
	o.changed = true
	if p := st.Pending; p != nil && (r.Kind == KindAbsence || r.Kind == KindStall) {
		summary := fmt.Sprintf("no follow-up by %s", st.Due.Format(time.RFC3339))
		r.trigger(&o, key, p.EventID, []events.Evidence{p.Evidence}, customerOf(p.Evidence), summary, st.Due, now)
		o.state.Open = o.raise != nil
	}
	o.state.Due = time.Time{}
	o.state.Expires = r.expiry(o.state)
	return o
}

// customerOf is the customer an event was about, from its evidence.
func customerOf(e events.Evidence) string {
	if id, ok := e.Attributes["customer_id"].(string); ok && id != "" {
		return id
	}
	return customerRef(e.Customer)
}

// window sums a rate rule's tallies for one key.
type window struct {
	bad, total int64
	recent     []events.Evidence
}

// maxRateEvidence is how many recent bad events a rate failure shows.
const maxRateEvidence = 5

// onRate evaluates a rate rule's window for key at now.
func (r *Rule) onRate(st State, key string, w window, now time.Time) outcome {
	o := outcome{state: st}
	breach := w.total >= int64(r.MinVolume) && float64(w.bad) > r.Threshold*float64(w.total)
	summary := fmt.Sprintf("ratio %.3f (%d of %d) over %s, above %g", float64(w.bad)/float64(max(w.total, 1)), w.bad, w.total, r.Window, r.Threshold)
	switch {
	case breach && !st.Open:
		r.trigger(&o, key, now.UTC().Truncate(time.Minute).Format(time.RFC3339), w.recent, "", summary, now, now)
		if o.raise != nil {
			// While open the key is looked at every tick, even after its
			// events stop, so the failure resolves when the window empties.
			o.state.Open, o.state.Watch = true, true
		}
	case !breach && st.Open:
		o.resolve = st.Failure
		o.note = "the condition cleared: " + summary
		o.state.Open, o.state.Watch = false, false
		o.changed = true
	}
	if o.changed {
		o.state.Expires = r.expiry(o.state)
	}
	return o
}

// expiry is when a state stops mattering: nothing in it can raise,
// dedupe or resolve a failure any more.
func (r *Rule) expiry(st State) time.Time {
	latest := st.Raised
	for _, t := range []time.Time{st.Cleared, st.Due} {
		if t.After(latest) {
			latest = t
		}
	}
	for _, e := range st.Events {
		if e.OccurredAt.After(latest) {
			latest = e.OccurredAt
		}
	}
	keep := max(2*r.Window, r.Cooldown, r.Within)
	if st.Pending != nil || st.Open || st.Watch {
		keep = max(keep, openRetention)
		if st.Pending != nil && st.Pending.OccurredAt.After(latest) {
			latest = st.Pending.OccurredAt
		}
	}
	return latest.Add(keep + 24*time.Hour)
}
