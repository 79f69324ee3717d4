package identity

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/configfile"
)

// GuardrailsFile is the guardrails' file in the configuration tree.
const GuardrailsFile = config.Identity

// Guardrails keep identity resolution from joining different people: values
// that identify no one in particular (a shared test address, the business's
// own support number, noreply@…) never link or resolve anything, and a
// customer holds at most a set number of keys of one kind, so a merge that
// would pile many addresses or phones onto one profile is refused and
// reported instead of applied.
type Guardrails struct {
	never []string
	// limits maps a key kind (email, phone, a channel id) to the most keys
	// of that kind one customer may hold; a kind not listed has no limit.
	limits map[string]int
}

// NewGuardrails builds guardrails from never-link patterns (as in
// identity.yaml) and per-kind limits.
func NewGuardrails(never []string, limits map[string]int) (*Guardrails, error) {
	g := &Guardrails{limits: map[string]int{}}
	for _, p := range never {
		n, err := neverPattern(p)
		if err != nil {
			return nil, err
		}
		g.never = append(g.never, n)
	}
	for kind, n := range limits {
		if err := checkLimit(kind, n); err != nil {
			return nil, err
		}
		g.limits[kind] = n
	}
	return g, nil
}

// Never reports whether k is a value that never links people. A nil
// Guardrails blocks nothing.
func (g *Guardrails) Never(k Key) bool {
	if g == nil {
		return false
	}
	for _, p := range g.never {
		if ok, _ := path.Match(p, string(k)); ok {
			return true
		}
	}
	return false
}

// Limit is the most keys of kind one customer may hold; 0 means no limit.
func (g *Guardrails) Limit(kind string) int {
	if g == nil {
		return 0
	}
	return g.limits[kind]
}

// Usable splits keys into those that may link and resolve and those the
// never-link list blocks.
func (g *Guardrails) Usable(keys []Key) (usable, blocked []Key) {
	for _, k := range keys {
		if g.Never(k) {
			blocked = append(blocked, k)
		} else {
			usable = append(usable, k)
		}
	}
	return usable, blocked
}

// Over returns the kinds of which keys holds more than its limit, sorted.
func (g *Guardrails) Over(keys []Key) []string {
	if g == nil || len(g.limits) == 0 {
		return nil
	}
	n := map[string]int{}
	for _, k := range keys {
		n[k.Kind()]++
	}
	var out []string
	for kind, c := range n {
		if l := g.Limit(kind); l > 0 && c > l {
			out = append(out, kind)
		}
	}
	sort.Strings(out)
	return out
}

// Counts says how many of keys the guardrails watch: never-link patterns
// and limited kinds (for `ocx check`).
func (g *Guardrails) Counts() (never, limits int) {
	if g == nil {
		return 0, 0
	}
	return len(g.never), len(g.limits)
}

// neverPattern normalises a never-link pattern: "<kind>:<value>" where the
// value may hold * and ? wildcards ("email:noreply@*"). An email or phone
// without wildcards is normalised as ingest normalises keys, so the
// pattern matches what is stored.
func neverPattern(p string) (string, error) {
	kind, v, ok := strings.Cut(strings.TrimSpace(p), ":")
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return "", fmt.Errorf("never_link value %q: want <kind>:<value>, e.g. email:noreply@* or phone:+15558675310", p)
	}
	if strings.ContainsAny(v, "[]\\") {
		return "", fmt.Errorf("never_link value %q: only * and ? are wildcards", p)
	}
	wild := strings.ContainsAny(v, "*?")
	switch {
	case kind == "email":
		v = strings.ToLower(v)
		if !wild && Email(v) == "" {
			return "", fmt.Errorf("never_link value %q: not an email address", p)
		}
	case kind == "phone" && !wild:
		if v = Phone(v); v == "" {
			return "", fmt.Errorf("never_link value %q: not an E.164 phone number (+ and country code)", p)
		}
	case kind == "phone":
	case !keyKind(kind):
		return "", fmt.Errorf("never_link value %q: kind %q is neither email, phone nor a channel id", p, kind)
	}
	pat := kind + ":" + v
	if _, err := path.Match(pat, ""); err != nil {
		return "", fmt.Errorf("never_link value %q: %v", p, err)
	}
	return pat, nil
}

func checkLimit(kind string, n int) error {
	switch {
	case kind != "email" && kind != "phone" && !keyKind(kind):
		return fmt.Errorf("limits: kind %q is neither email, phone nor a channel id", kind)
	case n < 1:
		return fmt.Errorf("limits: %s must be at least 1, not %d", kind, n)
	}
	return nil
}

// file is identity.yaml's shape.
type file struct {
	NeverLink []string       `yaml:"never_link"`
	Limits    map[string]int `yaml:"limits"`
}

// LoadGuardrails reads and validates identity.yaml from fsys, reporting
// every problem as file:line. A tree without the file has no guardrails.
func LoadGuardrails(fsys fs.FS, name string) (*Guardrails, error) {
	root, err := configfile.Read(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return &Guardrails{limits: map[string]int{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var ps configfile.Problems
	g := &Guardrails{limits: map[string]int{}}
	if root.Kind != yaml.MappingNode {
		ps.Add(name, root, "want a mapping with never_link and limits")
		return nil, ps.Err()
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i].Value; k != "never_link" && k != "limits" {
			ps.Add(name, root.Content[i], "unknown field %q (known: never_link, limits)", k)
		}
	}
	if seq := configfile.Lookup(root, "never_link"); seq != nil {
		if seq.Kind != yaml.SequenceNode {
			ps.Add(name, seq, "never_link must be a list of <kind>:<value>")
		} else {
			for _, n := range seq.Content {
				var s string
				if err := n.Decode(&s); err != nil {
					ps.Add(name, n, "never_link entries are strings: %v", err)
					continue
				}
				p, err := neverPattern(s)
				if err != nil {
					ps.Add(name, n, "%v", err)
					continue
				}
				g.never = append(g.never, p)
			}
		}
	}
	if m := configfile.Lookup(root, "limits"); m != nil {
		if m.Kind != yaml.MappingNode {
			ps.Add(name, m, "limits must map a key kind to a number, e.g. email: 3")
		} else {
			for i := 0; i+1 < len(m.Content); i += 2 {
				kind, v := m.Content[i].Value, m.Content[i+1]
				var n int
				if err := v.Decode(&n); err != nil {
					ps.Add(name, v, "limits: %s must be a whole number", kind)
					continue
				}
				if err := checkLimit(kind, n); err != nil {
					ps.Add(name, v, "%v", err)
					continue
				}
				g.limits[kind] = n
			}
		}
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return g, nil
}
