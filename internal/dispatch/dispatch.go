// Package dispatch is the routing tree: which team hears about a failure,
// and how failures are grouped into one notification, with Alertmanager's
// semantics (matchers, inherited settings, continue, group_by, group_wait,
// group_interval, repeat_interval). The tree and the inhibition rules are
// configuration (routes.yaml), checked with file:line errors.
package dispatch

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/inhibit"
	"github.com/ocxhq/ocx/internal/labels"
)

// Defaults of the root route, Alertmanager's own.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
)

// Route is one node of the routing tree. Settings left out of a child are
// inherited from its parent when the file is loaded, so every node is
// complete.
type Route struct {
	// ID is the node's path in the tree ("root", "root.0.2"); group keys
	// include it, so the same failure grouped by two routes forms two groups.
	ID       string
	Matchers []labels.Matcher
	// Receiver is a team id; empty means the failure's owning team.
	Receiver       string
	GroupBy        []string
	GroupWait      time.Duration
	GroupInterval  time.Duration
	RepeatInterval time.Duration
	// Continue lets matching go on to the next sibling after this node matched.
	Continue bool
	Routes   []*Route
	// Actions (loop.Actions, e.g. zendesk_ticket) are asked for every
	// failure the node takes, besides its rule's; inherited by children.
	Actions []string
}

// Config is what routes.yaml holds.
type Config struct {
	Root    *Route
	Inhibit []inhibit.Rule
}

// Default is the tree used when there is no routes.yaml: every failure to
// its owning team, grouped by team and rule.
func Default() Config {
	return Config{Root: &Route{ID: "root", GroupBy: []string{"team", "rule"},
		GroupWait: DefaultGroupWait, GroupInterval: DefaultGroupInterval, RepeatInterval: DefaultRepeatInterval}}
}

// Count is the number of routes in the tree, the root included.
func (c Config) Count() int {
	var walk func(r *Route) int
	walk = func(r *Route) int {
		if r == nil {
			return 0
		}
		n := 1
		for _, ch := range r.Routes {
			n += walk(ch)
		}
		return n
	}
	return walk(c.Root)
}

// Match returns the routes a failure with labels s is delivered by: the
// deepest matching node of each matching branch, as Alertmanager walks it.
// The root matches everything.
func (r *Route) Match(s labels.Set) []*Route {
	if !labels.All(r.Matchers, s) {
		return nil
	}
	var out []*Route
	for _, c := range r.Routes {
		m := c.Match(s)
		out = append(out, m...)
		if len(m) > 0 && !c.Continue {
			break
		}
	}
	if len(out) == 0 {
		return []*Route{r}
	}
	return out
}

// Target is one group a failure belongs to.
type Target struct {
	Route *Route
	// Team receives the group's notifications.
	Team string
	// Key names the group: short and URL-safe, so it fits in a Slack button.
	Key string
	// Labels are the group_by labels and their values, for people.
	Labels map[string]string
}

// Targets returns the groups a failure with labels s and owning team
// belongs to.
func (c Config) Targets(s labels.Set, owner string) []Target {
	var out []Target
	for _, r := range c.Root.Match(s) {
		t := Target{Route: r, Team: r.Receiver, Labels: map[string]string{}}
		if t.Team == "" {
			t.Team = owner
		}
		h := sha256.New()
		h.Write([]byte(r.ID + "\x00" + t.Team))
		for _, name := range r.GroupBy {
			t.Labels[name] = s[name]
			h.Write([]byte("\x00" + name + "=" + s[name]))
		}
		t.Key = "g" + hex.EncodeToString(h.Sum(nil))[:24]
		if !slices.ContainsFunc(out, func(o Target) bool { return o.Key == t.Key }) {
			out = append(out, t)
		}
	}
	return out
}

// Routes lists every node, root first, depth first.
func (r *Route) Walk(visit func(*Route)) {
	visit(r)
	for _, c := range r.Routes {
		c.Walk(visit)
	}
}

// Describe is the route's matchers as text, for logs and messages.
func (r *Route) Describe() string {
	if len(r.Matchers) == 0 {
		return r.ID
	}
	return r.ID + "{" + strings.Join(labels.Strings(r.Matchers), ",") + "}"
}

// Actions lists what the routes taking a failure with label set s ask for
// it, each action once.
func (c Config) Actions(s labels.Set) []string {
	var out []string
	for _, r := range c.Root.Match(s) {
		for _, a := range r.Actions {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}
