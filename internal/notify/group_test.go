package notify

import (
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/team"
)

var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func member(id, state, severity string, detected time.Time) Member {
	return Member{Failure: events.Failure{ID: id, State: state, Severity: severity, DetectedAt: detected}, AddedAt: detected}
}

func newGroup() *Group {
	return &Group{Key: "g1", Team: "support", CreatedAt: t0, GroupWait: 30 * time.Second,
		GroupInterval: 5 * time.Minute, RepeatInterval: 4 * time.Hour}
}

func view(at time.Time, owner team.Team) flushView {
	return flushView{now: at, owner: owner, muted: func(Member) bool { return false }}
}

func phases(out []Notification) []string {
	var ps []string
	for _, n := range out {
		ps = append(ps, n.Phase)
	}
	return ps
}

// The timings behave as Alertmanager's: nothing before group_wait, one
// message with every member at it, new members only after group_interval,
// a reminder after repeat_interval while nobody acknowledged.
func TestPlanTimings(t *testing.T) {
	owner := team.Team{ID: "support"}
	g := newGroup()
	ms := []Member{member("f1", "open", "warning", t0), member("f2", "open", "warning", t0.Add(time.Second))}

	if out := plan(g, ms, view(t0.Add(10*time.Second), owner)); len(out) != 0 || !g.Due.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("before group_wait: %v, due %s", phases(out), g.Due)
	}
	out := plan(g, ms, view(t0.Add(30*time.Second), owner))
	if len(out) != 1 || out[0].Phase != "firing#1" || len(out[0].Failures) != 2 || out[0].Team.ID != "support" {
		t.Fatalf("at group_wait: %+v", out)
	}
	if want := t0.Add(30*time.Second + 4*time.Hour); !g.Due.Equal(want) {
		t.Fatalf("after the first message due %s, want the repeat at %s", g.Due, want)
	}

	// A member joins a minute later: held until group_interval.
	ms = append(ms, member("f3", "open", "warning", t0.Add(90*time.Second)))
	if out := plan(g, ms, view(t0.Add(2*time.Minute), owner)); len(out) != 0 || !g.Due.Equal(t0.Add(30*time.Second+5*time.Minute)) {
		t.Fatalf("new member before group_interval: %v, due %s", phases(out), g.Due)
	}
	if out := plan(g, ms, view(t0.Add(30*time.Second+5*time.Minute), owner)); len(out) != 1 || out[0].Phase != "firing#2" || len(out[0].Failures) != 3 {
		t.Fatalf("at group_interval: %+v", out)
	}

	// Unchanged: reminded after repeat_interval, not before.
	last := g.LastFired
	if out := plan(g, ms, view(last.Add(time.Hour), owner)); len(out) != 0 {
		t.Fatalf("reminded early: %v", phases(out))
	}
	if out := plan(g, ms, view(last.Add(4*time.Hour), owner)); len(out) != 1 || out[0].Phase != "firing#3" {
		t.Fatalf("no reminder after repeat_interval: %v", phases(out))
	}

	// Acknowledged: no more reminders, nothing left due.
	for i := range ms {
		ms[i].Failure.State = "acknowledged"
	}
	if out := plan(g, ms, view(g.LastFired.Add(5*time.Hour), owner)); len(out) != 0 || !g.Due.IsZero() {
		t.Fatalf("acknowledged group: %v, due %s", phases(out), g.Due)
	}

	// Resolved: one follow-up, once.
	for i := range ms {
		ms[i].Failure.State = "resolved"
	}
	if out := plan(g, ms, view(g.LastFired.Add(6*time.Hour), owner)); len(out) != 1 || out[0].Kind != Resolved || len(out[0].Failures) != 3 {
		t.Fatalf("resolved group: %+v", out)
	}
	if out := plan(g, ms, view(g.LastFired.Add(7*time.Hour), owner)); len(out) != 0 {
		t.Fatalf("resolved follow-up sent twice: %v", phases(out))
	}
}

// Quiet hours hold a warning until they end and let a critical one through.
func TestPlanQuietHours(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	owner := team.Team{ID: "support", Quiet: &team.QuietHours{Start: 22 * time.Hour, End: 7 * time.Hour, Location: berlin}}
	night := time.Date(2026, 3, 2, 23, 30, 0, 0, berlin)
	g := newGroup()
	g.CreatedAt = night
	ms := []Member{member("f1", "open", "warning", night)}
	if out := plan(g, ms, view(night.Add(time.Minute), owner)); len(out) != 0 {
		t.Fatalf("sent during quiet hours: %v", phases(out))
	}
	if want := time.Date(2026, 3, 3, 7, 0, 0, 0, berlin); !g.Due.Equal(want) {
		t.Fatalf("held until %s, want the end of the quiet hours %s", g.Due, want)
	}
	if out := plan(g, ms, view(g.Due, owner)); len(out) != 1 {
		t.Fatalf("not sent when the quiet hours ended: %v", phases(out))
	}

	g = newGroup()
	g.CreatedAt = night
	if out := plan(g, []Member{member("f2", "open", "critical", night)}, view(night.Add(time.Minute), owner)); len(out) != 1 {
		t.Fatalf("a critical failure was held by quiet hours: %v", phases(out))
	}
}

// An open failure past its team's escalation time goes to the escalation
// team once; an acknowledged one does not.
func TestPlanEscalation(t *testing.T) {
	owner := team.Team{ID: "support", Escalation: team.Escalation{After: 30 * time.Minute, To: "leads"}}
	g := newGroup()
	ms := []Member{member("f1", "open", "warning", t0), member("f2", "acknowledged", "warning", t0)}
	plan(g, ms, view(t0.Add(time.Minute), owner))
	if !g.Due.Equal(t0.Add(30 * time.Minute)) {
		t.Fatalf("due %s, want the escalation time", g.Due)
	}
	out := plan(g, ms, view(t0.Add(30*time.Minute), owner))
	if len(out) != 1 || out[0].Kind != Escalated || out[0].Team.ID != "leads" || out[0].Owner != "support" ||
		len(out[0].Failures) != 1 || out[0].Failures[0].ID != "f1" {
		t.Fatalf("escalation: %+v", out)
	}
	if out := plan(g, ms, view(t0.Add(40*time.Minute), owner)); len(out) != 0 {
		t.Fatalf("escalated twice: %v", phases(out))
	}
	// A later failure escalates on its own clock.
	ms = append(ms, member("f3", "open", "warning", t0.Add(20*time.Minute)))
	g.Due = time.Time{}
	out = plan(g, ms, view(t0.Add(50*time.Minute), owner))
	var esc []Notification
	for _, n := range out {
		if n.Kind == Escalated {
			esc = append(esc, n)
		}
	}
	if len(esc) != 1 || esc[0].Phase != "escalated#2" || len(esc[0].Failures) != 1 || esc[0].Failures[0].ID != "f3" {
		t.Fatalf("second escalation: %+v", esc)
	}
}

// A group whose every open member is muted sends nothing and looks again
// after group_interval, when a silence may have ended.
func TestPlanMuted(t *testing.T) {
	g := newGroup()
	v := view(t0.Add(time.Minute), team.Team{ID: "support"})
	v.muted = func(Member) bool { return true }
	if out := plan(g, []Member{member("f1", "open", "warning", t0)}, v); len(out) != 0 || !g.Due.Equal(v.now.Add(5*time.Minute)) {
		t.Fatalf("muted group: %v, due %s", phases(out), g.Due)
	}
}
