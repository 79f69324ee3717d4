// Package team knows the owning teams: who they are and where their alerts
// go. Teams are configuration a platform engineer edits (teams.yaml); Load
// checks every entry and reports each problem as `file:line: what is wrong`.
package team

import (
	"fmt"
	"io/fs"
	"net/mail"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ocxhq/ocx/internal/configfile"
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
var fields = map[string]bool{"id": true, "name": true, "slack": true, "email": true}

// secretName matches what Secrets Manager accepts in a secret name.
var secretName = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]+$`)

// Load reads and checks the teams file name in fsys. The error, when not nil,
// lists every problem found, one `file:line: message` per line.
func Load(fsys fs.FS, name string) (Registry, error) {
	root, err := configfile.Read(fsys, name)
	if err != nil {
		return Registry{}, err
	}
	var ps configfile.Problems
	var teams []Team
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
			ps.Add(file, k, "unknown field %q in team (want id, name, slack, email)", k.Value)
			continue
		}
		if k.Value != "email" && v.Kind != yaml.ScalarNode {
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
	if t.ID != "" && t.Slack == "" && !hasEmail {
		ps.Add(file, n, "team %q has no receivers: set slack or email", t.ID)
	}
	return t, len(*ps) == before
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
