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
		if t := timeAt(ev, r.due...); !t.IsZero() {
			return t
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
			// When the pending stage was left: as the event says (a stage
			// change names the stage it ends), else when a later stage was
			// entered, which a journey's completion evaluated before the
			// stage change that preceded it says too.
			left := ev.At
			if held, ok := r.held(ev); ok && held.Entered.Equal(p.OccurredAt) {
				left = held.Left
			} else if e := r.stageEntered(ev); e.After(p.OccurredAt) && e.Before(left) {
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
				r.raiseResolved(o, key, p.EventID, []events.Evidence{p.Evidence, ev.Evidence}, ev.CustomerID,
					fmt.Sprintf("followed up at %s, after the deadline %s", ev.At.Format(time.RFC3339), st.Due.Format(time.RFC3339)),
					"followed up after the deadline by "+ev.Type+" "+ev.ID, st.Due, now)
			}
			st.Pending, st.Due = nil, time.Time{}
			o.changed = true
		}
		if ev.At.After(st.Cleared) {
			st.Cleared, st.ClearedBy = ev.At, ev.ID
			o.changed = true
		}
		if held, ok := r.held(ev); ok && !slices.Contains(st.Held, held) {
			st.Held = append(st.Held, held)
			slices.SortFunc(st.Held, func(a, b Span) int { return b.Left.Compare(a.Left) })
			st.Held = st.Held[:min(len(st.Held), maxHeld)]
			o.changed = true
			// A start that came before this follow-up learns when its
			// stage was left.
			st.Unsettled = slices.DeleteFunc(st.Unsettled, func(u Start) bool {
				if !u.OccurredAt.Equal(held.Entered) {
					return false
				}
				if !held.Left.Before(u.Due) && o.raise == nil {
					r.missed(o, key, u.EventID, []events.Evidence{u.Evidence, ev.Evidence}, held.Left, u.Due, now)
				}
				return true
			})
		}
	}
	if roles[rolePattern] {
		followed := ev.At.Before(st.Cleared) || (ev.At.Equal(st.Cleared) && st.ClearedBy != ev.ID)
		if due := r.deadline(ev); followed && !st.Open && r.journey && !due.IsZero() {
			// A start evaluated after a follow-up: checked against when its
			// stage was left, or kept until a follow-up says.
			i := slices.IndexFunc(st.Held, func(h Span) bool { return h.Entered.Equal(ev.At) })
			switch {
			case i >= 0 && !st.Held[i].Left.Before(due):
				r.missed(o, key, ev.ID, []events.Evidence{ev.Evidence}, st.Held[i].Left, due, now)
			case i < 0 && !slices.ContainsFunc(st.Unsettled, func(u Start) bool { return u.EventID == ev.ID }):
				st.Unsettled = append(st.Unsettled, Start{Entry: Entry{Role: rolePattern, Evidence: ev.Evidence}, Due: due})
				slices.SortFunc(st.Unsettled, func(a, b Start) int { return b.OccurredAt.Compare(a.OccurredAt) })
				st.Unsettled = st.Unsettled[:min(len(st.Unsettled), maxHeld)]
				o.changed = true
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

// missed raises, already resolved, the failure of a stage left at left,
// after its deadline due, which the evaluation learnt only then.
func (r *Rule) missed(o *outcome, key, cause string, evidence []events.Evidence, left, due, now time.Time) {
	r.raiseResolved(o, key, cause, evidence, customerOf(evidence[0]),
		fmt.Sprintf("left at %s, after the deadline %s", left.Format(time.RFC3339), due.Format(time.RFC3339)), "left after the deadline", due, now)
}

// raiseResolved raises a deadline missed in the past, already resolved by
// note: the condition ended before the evaluation learnt of it.
func (r *Rule) raiseResolved(o *outcome, key, cause string, evidence []events.Evidence, customerID, summary, note string, due, now time.Time) {
	r.trigger(o, key, cause, evidence, customerID, summary, due, now)
	if o.raise != nil {
		resolved, _, _ := failure.Move(*o.raise, failure.Resolved, r.actor(), now, note)
		o.raise = &resolved
	}
}

// held is the stage a stall rule's follow-up says was left, by the
// journey events' contract: a stage change ends the previous stage
// (previous_entered_at to exited_at), a completion or abandonment its own
// (entered_at to exited_at). ok is false for other kinds and for events
// that do not say.
func (r *Rule) held(ev Event) (Span, bool) {
	if !r.journey {
		return Span{}, false
	}
	from := "entered_at"
	if len(leaves(ev.doc, []string{"detail", "previous_stage"})) > 0 {
		from = "previous_entered_at"
	}
	entered, left := timeAt(ev, "detail", from), timeAt(ev, "detail", "exited_at")
	if entered.IsZero() || left.IsZero() {
		return Span{}, false
	}
	return Span{Entered: entered, Left: left}, true
}

// stageEntered is when the stage a stall rule's event enters or ended in
// was entered: any stage entered before it was left by then. Zero for
// other kinds.
func (r *Rule) stageEntered(ev Event) time.Time {
	if !r.journey {
		return time.Time{}
	}
	return timeAt(ev, "detail", "entered_at")
}

// timeAt is the RFC 3339 time at path in ev, zero when there is none.
func timeAt(ev Event, path ...string) time.Time {
	for _, v := range leaves(ev.doc, path) {
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
