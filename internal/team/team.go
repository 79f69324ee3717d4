// Package team knows the owning teams: who they are and where their alerts
// go. Teams are configuration a platform engineer edits (teams.yaml); Load
// checks every entry and reports each problem as `file:line: what is wrong`.
package team

import (
	"fmt"
	"io/fs"
	"net/mail"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ocxhq/ocx/internal/configfile"
	"github.com/ocxhq/ocx/internal/lazyregexp"
	"github.com/ocxhq/ocx/internal/topology"
)

// Team is a group of people who own a kind of failure and hear about it.
type Team struct {
	ID   string
	Name string
	// Slack names the secret under slack/ that holds the team's Slack
	// incoming-webhook URL; empty means the team is not alerted on Slack.
	Slack string
	// Email lists the addresses alerted by mail; empty means none.
	Email []string
	// Escalation, when After is set, says which team hears about failures
	// still unacknowledged that long after they were detected.
	Escalation Escalation
	// Quiet, when set, holds non-critical notifications back during the
	// team's quiet hours.
	Quiet *QuietHours
}

// Escalation sends unacknowledged failures on to another team.
type Escalation struct {
	After time.Duration
	To    string
}

// QuietHours is a daily window of local time, Start to End (End may be on
// the next day, as in 22:00 to 07:00).
type QuietHours struct {
	Start, End time.Duration // since local midnight
	Location   *time.Location
}

// Until reports whether at falls in the quiet hours and, if so, when they
// end.
func (q *QuietHours) Until(at time.Time) (time.Time, bool) {
	if q == nil || q.Start == q.End {
		return time.Time{}, false
	}
	local := at.In(q.Location)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, q.Location)
	since := local.Sub(midnight)
	switch {
	case q.Start < q.End && since >= q.Start && since < q.End:
		return clock(midnight, q.End), true
	case q.Start > q.End && since >= q.Start:
		return clock(midnight.AddDate(0, 0, 1), q.End), true
	case q.Start > q.End && since < q.End:
		return clock(midnight, q.End), true
	}
	return time.Time{}, false
}

// clock is the time of day d on the day starting at midnight, counted on
// the wall clock so a daylight-saving change does not shift it.
func clock(midnight time.Time, d time.Duration) time.Time {
	return time.Date(midnight.Year(), midnight.Month(), midnight.Day(), int(d/time.Hour), int(d%time.Hour/time.Minute), 0, 0, midnight.Location())
}

// Registry is the set of configured teams, looked up by id.
type Registry struct {
	byID  map[string]Team
	order []string
}

// NewRegistry builds a registry from teams already known to be valid, such
// as those a test constructs. A later team replaces an earlier one with the
// same id.
func NewRegistry(teams ...Team) Registry {
	r := Registry{byID: make(map[string]Team, len(teams))}
	for _, t := range teams {
		if _, dup := r.byID[t.ID]; !dup {
			r.order = append(r.order, t.ID)
		}
		r.byID[t.ID] = t
	}
	return r
}

// Get returns the team with the given id.
func (r Registry) Get(id string) (Team, bool) {
	t, ok := r.byID[id]
	return t, ok
}

// All returns every team in the order the file lists them.
// IDs lists the teams' ids, in All's order.
func (r Registry) IDs() []string {
	all := r.All()
	ids := make([]string, len(all))
	for i, t := range all {
		ids[i] = t.ID
	}
	return ids
}

func (r Registry) All() []Team {
	out := make([]Team, len(r.order))
	for i, id := range r.order {
		out[i] = r.byID[id]
	}
	return out
}

// fields are the keys a team entry may have. Unknown keys are reported
// rather than ignored, so a typo such as "emails:" cannot silently leave a
// team without alerts.
var fields = map[string]bool{"id": true, "name": true, "slack": true, "email": true, "escalation": true, "quiet_hours": true}

// secretName matches what Secrets Manager accepts in a secret name.
var secretName = lazyregexp.New(`^[A-Za-z0-9/_+=.@-]+$`)

// Load reads and checks the teams file name in fsys. The error, when not nil,
// lists every problem found, one `file:line: message` per line.
func Load(fsys fs.FS, name string) (Registry, error) {
	root, err := configfile.Read(fsys, name)
	if err != nil {
		return Registry{}, err
	}
	var ps configfile.Problems
	var teams []Team
	var nodes []*yaml.Node
	firstLine := map[string]int{}
	for _, item := range configfile.Items[yaml.Node](name, root, "teams", &ps) {
		t, ok := decode(name, item.Node, &ps)
		if !ok {
			continue
		}
		if line, dup := firstLine[t.ID]; dup {
			ps.Add(name, configfile.Field(item.Node, "id"), "duplicate team id %q (first defined at line %d)", t.ID, line)
			continue
		}
		firstLine[t.ID] = configfile.Field(item.Node, "id").Line
		teams = append(teams, t)
		nodes = append(nodes, item.Node)
	}
	for i, t := range teams {
		to := t.Escalation.To
		if to == "" {
			continue
		}
		if _, ok := firstLine[to]; !ok {
			ps.Add(name, configfile.Field(configfile.Lookup(nodes[i], "escalation"), "to"), "escalation target %q is not a team", to)
		} else if to == t.ID {
			ps.Add(name, configfile.Field(configfile.Lookup(nodes[i], "escalation"), "to"), "team %q escalates to itself", to)
		}
	}
	if err := ps.Err(); err != nil {
		return Registry{}, err
	}
	return NewRegistry(teams...), nil
}

// decode checks one entry of the teams list and returns the team it
// describes; ok is false when the entry has problems, all of them recorded.
func decode(file string, n *yaml.Node, ps *configfile.Problems) (t Team, ok bool) {
	if n.Kind != yaml.MappingNode {
		ps.Add(file, n, "team must be a mapping with id, name, slack and email")
		return Team{}, false
	}
	before := len(*ps)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !fields[k.Value] {
			ps.Add(file, k, "unknown field %q in team (want id, name, slack, email, escalation, quiet_hours)", k.Value)
			continue
		}
		if (k.Value == "escalation" || k.Value == "quiet_hours") && v.Kind != yaml.MappingNode {
			ps.Add(file, v, "%s must be a mapping", k.Value)
			continue
		}
		if k.Value != "email" && k.Value != "escalation" && k.Value != "quiet_hours" && v.Kind != yaml.ScalarNode {
			ps.Add(file, v, "%s must be a string", k.Value)
		}
	}

	t.ID = scalar(n, "id")
	t.Name = scalar(n, "name")
	t.Slack = scalar(n, "slack")
	switch {
	case t.ID == "":
		ps.Add(file, n, "team has no id")
	case strings.TrimSpace(t.ID) != t.ID:
		ps.Add(file, configfile.Field(n, "id"), "team id %q has leading or trailing spaces", t.ID)
	}
	if t.Name == "" {
		t.Name = t.ID
	}
	if t.Slack != "" && !secretName.MatchString(t.Slack) {
		ps.Add(file, configfile.Field(n, "slack"), "slack %q is not a valid secret name (letters, digits and /_+=.@- only)", t.Slack)
	}
	if t.Slack != "" && topology.SecretSlackPrefix+t.Slack == topology.SecretSlackSigning {
		ps.Add(file, configfile.Field(n, "slack"), "slack %q is the Slack signing secret's name; pick another", t.Slack)
	}

	hasEmail := false
	if e := configfile.Lookup(n, "email"); e != nil && e.Tag != "!!null" {
		switch e.Kind {
		case yaml.SequenceNode:
			hasEmail = len(e.Content) > 0
			for _, a := range e.Content {
				if a.Kind != yaml.ScalarNode {
					ps.Add(file, a, "email entries must be addresses")
					continue
				}
				if msg := checkAddress(a.Value); msg != "" {
					ps.Add(file, a, "%s", msg)
					continue
				}
				t.Email = append(t.Email, a.Value)
			}
		default:
			hasEmail = true // a wrong shape is its own problem, not a missing receiver
			ps.Add(file, e, "email must be a list of addresses")
		}
	}
	if e := configfile.Lookup(n, "escalation"); e != nil && e.Kind == yaml.MappingNode {
		t.Escalation = escalation(file, e, ps)
	}
	if q := configfile.Lookup(n, "quiet_hours"); q != nil && q.Kind == yaml.MappingNode {
		t.Quiet = quietHours(file, q, ps)
	}
	if t.ID != "" && t.Slack == "" && !hasEmail {
		ps.Add(file, n, "team %q has no receivers: set slack or email", t.ID)
	}
	return t, len(*ps) == before
}

// escalation reads `escalation: {after: 30m, to: team}`; the target is
// checked against the other teams by Load.
func escalation(file string, n *yaml.Node, ps *configfile.Problems) Escalation {
	var e Escalation
	onlyKeys(file, n, ps, "escalation", "after", "to")
	after := scalar(n, "after")
	d, err := time.ParseDuration(after)
	switch {
	case after == "":
		ps.Add(file, n, "escalation needs after (e.g. 30m)")
	case err != nil || d <= 0:
		ps.Add(file, configfile.Field(n, "after"), "escalation after %q: want a positive duration such as 30m", after)
	default:
		e.After = d
	}
	if e.To = scalar(n, "to"); e.To == "" {
		ps.Add(file, n, "escalation needs to (a team id)")
	}
	return e
}

// quietHours reads `quiet_hours: {start: "22:00", end: "07:00", tz: Europe/Berlin}`.
func quietHours(file string, n *yaml.Node, ps *configfile.Problems) *QuietHours {
	onlyKeys(file, n, ps, "quiet_hours", "start", "end", "tz")
	q := &QuietHours{}
	ok := true
	for _, k := range []string{"start", "end"} {
		v := scalar(n, k)
		at, err := time.Parse("15:04", v)
		if err != nil {
			ps.Add(file, configfile.Field(n, k), "quiet_hours %s %q: want HH:MM", k, v)
			ok = false
			continue
		}
		d := time.Duration(at.Hour())*time.Hour + time.Duration(at.Minute())*time.Minute
		if k == "start" {
			q.Start = d
		} else {
			q.End = d
		}
	}
	tz := scalar(n, "tz")
	loc, err := time.LoadLocation(tz)
	if tz == "" || err != nil {
		ps.Add(file, configfile.Field(n, "tz"), "quiet_hours tz %q: want an IANA time zone such as Europe/Berlin", tz)
		ok = false
	}
	q.Location = loc
	if ok && q.Start == q.End {
		ps.Add(file, n, "quiet_hours start and end are equal")
	}
	if !ok {
		return nil
	}
	return q
}

// onlyKeys reports keys of mapping n other than want.
func onlyKeys(file string, n *yaml.Node, ps *configfile.Problems, what string, want ...string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(want, k.Value) {
			ps.Add(file, k, "unknown field %q in %s (want %s)", k.Value, what, strings.Join(want, ", "))
		}
	}
}

// scalar returns the string value of key in mapping n, or "" when absent or
// not a scalar (that case is reported by the caller).
func scalar(n *yaml.Node, key string) string {
	v := configfile.Lookup(n, key)
	if v == nil || v.Kind != yaml.ScalarNode {
		return ""
	}
	return v.Value
}

// checkAddress accepts a bare address ("ops@example.com"). Display names are
// refused so the file shows exactly where mail goes.
func checkAddress(s string) string {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return fmt.Sprintf("bad email address %q", s)
	}
	return ""
}
