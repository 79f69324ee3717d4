package notify

import (
	"slices"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/team"
)

// Group is the state of one notification group: failures that share a
// route, a receiving team and the values of the route's group_by labels.
type Group struct {
	Key    string
	Route  string
	Team   string
	Labels map[string]string
	// Timings of the route the group was formed by.
	GroupWait, GroupInterval, RepeatInterval time.Duration
	CreatedAt                                time.Time
	// Due is when the flush should look at the group next; zero means
	// nothing is pending until a failure joins or changes.
	Due time.Time
	// Fired counts firing notifications sent; LastFired is when the last
	// one went out.
	Fired     int
	LastFired time.Time
	// ResolvedSent is true once the all-resolved follow-up went out.
	ResolvedSent bool
	Escalations  int
	// EscalatedThrough is the detection time of the latest failure
	// escalated; failures detected up to it are not escalated again.
	EscalatedThrough time.Time
	// RetryingSince is when a due send of this group first failed for a
	// reason worth retrying (a receiver's outage); zero when nothing is
	// being retried. Retries counts the flushes that failed since, and
	// LastError says why the latest did.
	RetryingSince time.Time `json:",omitzero"`
	Retries       int       `json:",omitempty"`
	LastError     string    `json:",omitempty"`
	// Version guards against concurrent writers: a save succeeds only if
	// the stored version is still the one read.
	Version int64
}

// Member is one failure of a group, as last seen on the bus.
type Member struct {
	Failure events.Failure
	AddedAt time.Time
}

// open reports whether nobody has acknowledged or resolved the failure.
func (m Member) open() bool { return m.Failure.State == "" || m.Failure.State == "open" }

func (m Member) resolved() bool { return m.Failure.State == "resolved" }

// joined sets when g should be looked at after a failure joined it at now:
// group_wait after a new group forms, group_interval after the last
// notification of a group that already notified.
func (g *Group) joined(now time.Time) {
	g.ResolvedSent = false
	want := g.CreatedAt.Add(g.GroupWait)
	if g.Fired > 0 {
		want = g.LastFired.Add(g.GroupInterval)
	}
	if want.Before(now) {
		want = now
	}
	if g.Due.IsZero() || want.Before(g.Due) {
		g.Due = want
	}
}

// changed makes g due now, after one of its failures was acknowledged or
// resolved, so a resolved follow-up or a stopped reminder takes effect.
func (g *Group) changed(now time.Time) {
	if g.Due.IsZero() || now.Before(g.Due) {
		g.Due = now
	}
}

// flushView is what a flush knows besides the group: which members are
// muted, the teams, and the time.
type flushView struct {
	now   time.Time
	muted func(Member) bool
	owner team.Team
}

// plan decides what a due group sends now and when it is due next. It
// changes g to its state after the sends.
func plan(g *Group, members []Member, v flushView) (out []Notification) {
	now := v.now
	var firing, all []events.Failure
	var fresh, critical, openUnacked bool
	muted, resolved := 0, 0
	for _, m := range members {
		all = append(all, m.Failure)
		if m.resolved() {
			resolved++
			continue
		}
		if v.muted(m) {
			muted++
			continue
		}
		firing = append(firing, m.Failure)
		fresh = fresh || g.Fired == 0 || m.AddedAt.After(g.LastFired)
		critical = critical || m.Failure.Severity == "critical"
		openUnacked = openUnacked || m.open()
	}
	var next []time.Time
	mark := func(t time.Time) {
		if !t.IsZero() {
			next = append(next, t)
		}
	}

	firstDue := g.CreatedAt.Add(g.GroupWait)
	if g.Fired > 0 {
		firstDue = g.LastFired.Add(g.GroupInterval)
	}
	repeatDue := g.LastFired.Add(g.RepeatInterval)
	send := len(firing) > 0 && ((fresh && !now.Before(firstDue)) || (g.Fired > 0 && openUnacked && !now.Before(repeatDue)))
	switch {
	case send && !critical && quiet(v.owner, now) != (time.Time{}):
		// Held, not dropped: the group is due again when the quiet hours end.
		mark(quiet(v.owner, now))
	case send:
		g.Fired++
		g.LastFired = now
		out = append(out, Notification{GroupKey: g.Key, Kind: Firing, Phase: phase(Firing, g.Fired),
			Team: v.owner, Labels: g.Labels, Failures: firing, Muted: muted})
	case fresh && len(firing) > 0:
		mark(firstDue)
	}
	if len(firing) > 0 && openUnacked && g.Fired > 0 {
		mark(g.LastFired.Add(g.RepeatInterval))
	}
	if len(firing) == 0 && muted > 0 {
		// Silences end and inhibiting failures resolve: look again later.
		mark(now.Add(g.GroupInterval))
	}

	if len(members) > 0 && resolved == len(members) && g.Fired > 0 && !g.ResolvedSent {
		g.ResolvedSent = true
		out = append(out, Notification{GroupKey: g.Key, Kind: Resolved, Phase: Resolved,
			Team: v.owner, Labels: g.Labels, Failures: all})
	}

	if esc := v.owner.Escalation; esc.After > 0 {
		var late []events.Failure
		through := g.EscalatedThrough
		for _, m := range members {
			if !m.Failure.DetectedAt.After(g.EscalatedThrough) || !m.open() || v.muted(m) {
				continue
			}
			if at := m.Failure.DetectedAt.Add(esc.After); now.Before(at) {
				mark(at)
				continue
			}
			late = append(late, m.Failure)
			if m.Failure.DetectedAt.After(through) {
				through = m.Failure.DetectedAt
			}
		}
		if len(late) > 0 {
			g.Escalations++
			g.EscalatedThrough = through
			out = append(out, Notification{GroupKey: g.Key, Kind: Escalated, Phase: phase(Escalated, g.Escalations),
				Team: team.Team{ID: esc.To}, Owner: v.owner.ID, Labels: g.Labels, Failures: late})
		}
	}
	g.Due = time.Time{}
	if len(next) > 0 {
		g.Due = slices.MinFunc(next, func(a, b time.Time) int { return a.Compare(b) })
	}
	return out
}

func phase(kind string, n int) string { return kind + "#" + itoa(n) }

// quiet returns when t's quiet hours end, or zero when t is not quiet now.
func quiet(t team.Team, now time.Time) time.Time {
	until, ok := t.Quiet.Until(now)
	if !ok {
		return time.Time{}
	}
	return until
}
