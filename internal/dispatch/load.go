package dispatch

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/configfile"
	"github.com/ocxhq/ocx/internal/inhibit"
	"github.com/ocxhq/ocx/internal/labels"
	"github.com/ocxhq/ocx/internal/loop"
)

// File is the routing configuration's file name in the configuration tree.
const File = config.Routes

var routeFields = []string{"matchers", "receiver", "group_by", "group_wait", "group_interval", "repeat_interval", "continue", "routes", "actions"}

var inhibitFields = []string{"source_matchers", "target_matchers", "equal"}

// Load reads and checks the routing file name in fsys; teams are the known
// team ids receivers must name. A missing file means Default. The error
// lists every problem, one `file:line: message` per line.
func Load(fsys fs.FS, name string, teams []string) (Config, error) {
	if _, err := fs.Stat(fsys, name); errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	root, err := configfile.Read(fsys, name)
	if err != nil {
		return Config{}, err
	}
	l := loader{file: name, teams: teams}
	var cfg Config
	if root.Kind != yaml.MappingNode {
		l.ps.Add(name, root, "want a mapping with route and inhibit_rules")
		return Config{}, l.ps.Err()
	}
	l.only(root, "file", "route", "inhibit_rules")
	rn := configfile.Lookup(root, "route")
	if rn == nil {
		l.ps.Add(name, root, "missing top-level route")
	} else {
		def := Default().Root
		cfg.Root = l.route(rn, def, "root", true)
	}
	if in := configfile.Lookup(root, "inhibit_rules"); in != nil {
		if in.Kind != yaml.SequenceNode {
			l.ps.Add(name, in, "inhibit_rules must be a list")
		} else {
			for _, n := range in.Content {
				if r, ok := l.inhibitRule(n); ok {
					cfg.Inhibit = append(cfg.Inhibit, r)
				}
			}
		}
	}
	if err := l.ps.Err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

type loader struct {
	file  string
	teams []string
	ps    configfile.Problems
}

func (l *loader) only(n *yaml.Node, what string, want ...string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(want, k.Value) {
			l.ps.Add(l.file, k, "unknown field %q in %s (want %s)", k.Value, what, strings.Join(want, ", "))
		}
	}
}

// route reads one node, inheriting what it leaves out from parent.
func (l *loader) route(n *yaml.Node, parent *Route, id string, isRoot bool) *Route {
	r := &Route{ID: id, Receiver: parent.Receiver, GroupBy: parent.GroupBy,
		GroupWait: parent.GroupWait, GroupInterval: parent.GroupInterval, RepeatInterval: parent.RepeatInterval, Actions: parent.Actions}
	if n.Kind != yaml.MappingNode {
		l.ps.Add(l.file, n, "route must be a mapping")
		return r
	}
	l.only(n, "route", routeFields...)
	if m := configfile.Lookup(n, "matchers"); m != nil {
		if isRoot {
			l.ps.Add(l.file, m, "the root route matches every failure; it takes no matchers")
		}
		r.Matchers = l.matchers(m)
	}
	if v := configfile.Lookup(n, "receiver"); v != nil {
		r.Receiver = v.Value
		if v.Kind != yaml.ScalarNode || !slices.Contains(l.teams, v.Value) {
			l.ps.Add(l.file, v, "receiver %q is not a team in teams.yaml", v.Value)
		}
	}
	if v := configfile.Lookup(n, "group_by"); v != nil {
		r.GroupBy = l.strings(v, "group_by")
	}
	if v := configfile.Lookup(n, "actions"); v != nil {
		r.Actions = l.strings(v, "actions")
		for _, a := range r.Actions {
			if !slices.Contains(loop.Actions, a) {
				l.ps.Add(l.file, v, "unknown action %q (want one of %s)", a, strings.Join(loop.Actions, ", "))
			}
		}
	}
	for _, d := range []struct {
		key string
		to  *time.Duration
		min time.Duration
	}{{"group_wait", &r.GroupWait, 0}, {"group_interval", &r.GroupInterval, time.Minute}, {"repeat_interval", &r.RepeatInterval, time.Minute}} {
		v := configfile.Lookup(n, d.key)
		if v == nil {
			continue
		}
		x, err := time.ParseDuration(v.Value)
		if err != nil || x < d.min || v.Kind != yaml.ScalarNode {
			l.ps.Add(l.file, v, "%s %q: want a duration of at least %s, such as 5m", d.key, v.Value, d.min)
			continue
		}
		*d.to = x
	}
	if v := configfile.Lookup(n, "continue"); v != nil {
		b, err := strconv.ParseBool(v.Value)
		if err != nil || v.Kind != yaml.ScalarNode {
			l.ps.Add(l.file, v, "continue must be true or false")
		}
		if isRoot && b {
			l.ps.Add(l.file, v, "the root route has no siblings to continue to")
		}
		r.Continue = b
	}
	if v := configfile.Lookup(n, "routes"); v != nil {
		if v.Kind != yaml.SequenceNode {
			l.ps.Add(l.file, v, "routes must be a list")
		} else {
			for i, c := range v.Content {
				r.Routes = append(r.Routes, l.route(c, r, id+"."+strconv.Itoa(i), false))
			}
		}
	}
	return r
}

func (l *loader) matchers(n *yaml.Node) []labels.Matcher {
	var out []labels.Matcher
	for _, s := range l.stringNodes(n, "matchers") {
		m, err := labels.Parse(s.Value)
		if err != nil {
			l.ps.Add(l.file, s, "%v", err)
			continue
		}
		out = append(out, m)
	}
	return out
}

func (l *loader) strings(n *yaml.Node, what string) []string {
	var out []string
	for _, s := range l.stringNodes(n, what) {
		out = append(out, s.Value)
	}
	return out
}

func (l *loader) stringNodes(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		l.ps.Add(l.file, n, "%s must be a list of strings", what)
		return nil
	}
	var out []*yaml.Node
	for _, s := range n.Content {
		if s.Kind != yaml.ScalarNode || s.Value == "" {
			l.ps.Add(l.file, s, "%s entries must be non-empty strings", what)
			continue
		}
		out = append(out, s)
	}
	return out
}

func (l *loader) inhibitRule(n *yaml.Node) (inhibit.Rule, bool) {
	before := len(l.ps)
	if n.Kind != yaml.MappingNode {
		l.ps.Add(l.file, n, "inhibit rule must be a mapping with source_matchers, target_matchers and equal")
		return inhibit.Rule{}, false
	}
	l.only(n, "inhibit rule", inhibitFields...)
	var r inhibit.Rule
	for _, side := range []struct {
		key string
		to  *[]labels.Matcher
	}{{"source_matchers", &r.Source}, {"target_matchers", &r.Target}} {
		v := configfile.Lookup(n, side.key)
		if v == nil {
			l.ps.Add(l.file, n, "inhibit rule needs %s", side.key)
			continue
		}
		if *side.to = l.matchers(v); len(*side.to) == 0 {
			l.ps.Add(l.file, v, "%s must not be empty: it would match every failure", side.key)
		}
	}
	if v := configfile.Lookup(n, "equal"); v != nil {
		r.Equal = l.strings(v, "equal")
	}
	if len(l.ps) > before {
		return inhibit.Rule{}, false
	}
	return r, true
}

// Check is Load for `ocx check`: it returns a one-line summary.
func Check(fsys fs.FS, teams []string) (string, error) {
	cfg, err := Load(fsys, File, teams)
	if err != nil {
		return "", err
	}
	n := 0
	cfg.Root.Walk(func(*Route) { n++ })
	return fmt.Sprintf("%d routes, %d inhibit rules", n, len(cfg.Inhibit)), nil
}
