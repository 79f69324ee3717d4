package rules

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"go.yaml.in/yaml/v3"
	"quamina.net/go/quamina"

	"github.com/ocxhq/ocx/internal/configfile"
)

// Kinds of rule.
const (
	KindMatch = "match"
)

// Severities, from least to most urgent.
var severities = map[string]bool{"info": true, "warning": true, "critical": true}

// Rule is one failure rule from configuration.
type Rule struct {
	ID          string            `yaml:"id"`
	Kind        string            `yaml:"kind"`
	Description string            `yaml:"description"`
	Severity    string            `yaml:"severity"`
	Team        string            `yaml:"team"`
	Runbook     string            `yaml:"runbook"`
	Labels      map[string]string `yaml:"labels"`
	// Pattern is an EventBridge event pattern, written as YAML.
	Pattern map[string]any `yaml:"pattern"`

	pattern string // Pattern as JSON, for the matcher
}

// Load reads every *.yaml file in dir of fsys and validates the rules,
// reporting all problems as `file:line: what is wrong`. teams lists the team
// ids a rule may name.
func Load(fsys fs.FS, dir string, teams []string) ([]Rule, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list rule files in %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no rule files (*.yaml) in %s", dir)
	}
	known := map[string]bool{}
	for _, t := range teams {
		known[t] = true
	}
	var ps configfile.Problems
	var out []Rule
	seen := map[string]string{}
	for _, f := range files {
		root, err := configfile.Read(fsys, f)
		if err != nil {
			return nil, err
		}
		for _, it := range configfile.Items[Rule](f, root, "rules", &ps) {
			r := it.Value
			before := len(ps)
			check(f, it.Node, &r, known, &ps)
			if prev, dup := seen[r.ID]; dup && r.ID != "" {
				ps.Add(f, configfile.Field(it.Node, "id"), "rule id %q already defined at %s", r.ID, prev)
			}
			seen[r.ID] = fmt.Sprintf("%s:%d", f, it.Node.Line)
			if len(ps) == before {
				out = append(out, r)
			}
		}
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func check(file string, node *yaml.Node, r *Rule, teams map[string]bool, ps *configfile.Problems) {
	at := func(field string) *yaml.Node { return configfile.Field(node, field) }
	if r.ID == "" {
		ps.Add(file, node, "rule has no id")
	}
	switch r.Kind {
	case KindMatch:
	case "":
		ps.Add(file, node, "rule %q has no kind (want %s)", r.ID, KindMatch)
	default:
		ps.Add(file, at("kind"), "rule %q: unknown kind %q (want %s)", r.ID, r.Kind, KindMatch)
	}
	if r.Description == "" {
		ps.Add(file, node, "rule %q has no description", r.ID)
	}
	if !severities[r.Severity] {
		ps.Add(file, at("severity"), "rule %q: severity %q must be info, warning or critical", r.ID, r.Severity)
	}
	if r.Team == "" {
		ps.Add(file, node, "rule %q has no owning team", r.ID)
	} else if !teams[r.Team] {
		ps.Add(file, at("team"), "rule %q: unknown team %q", r.ID, r.Team)
	}
	if len(r.Pattern) == 0 {
		ps.Add(file, node, "rule %q has no pattern", r.ID)
		return
	}
	b, err := json.Marshal(r.Pattern)
	if err != nil {
		ps.Add(file, at("pattern"), "rule %q: pattern is not JSON-compatible: %v", r.ID, err)
		return
	}
	q, err := quamina.New()
	if err == nil {
		err = q.AddPattern(r.ID, string(b))
	}
	if err != nil {
		ps.Add(file, at("pattern"), "rule %q: invalid event pattern: %v", r.ID, err)
		return
	}
	r.pattern = string(b)
}
