// Package labels matches failures by their labels, the way Alertmanager's
// matchers do: name=value, name!=value, name=~regex and name!~regex. Routes,
// silences and inhibition rules all select failures with them.
package labels

import (
	"fmt"
	"maps"
	"regexp"
	"strings"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/lazyregexp"
)

// Set is the labels of one failure.
type Set map[string]string

// Of returns the labels of f: its own labels plus team, severity and rule
// from the record, so matchers on those work whatever the rule declared.
func Of(f events.Failure) Set {
	s := make(Set, len(f.Labels)+3)
	maps.Copy(s, f.Labels)
	for k, v := range map[string]string{"team": f.Team, "severity": f.Severity, "rule": f.RuleID} {
		if v != "" {
			s[k] = v
		}
	}
	return s
}

// Op is a matcher's comparison.
type Op string

// The comparisons a matcher may make.
const (
	Equal     Op = "="
	NotEqual  Op = "!="
	Regex     Op = "=~"
	NotRegex  Op = "!~"
	maxLength    = 1024
)

// Matcher selects label sets by one label. A missing label reads as "", as
// in Alertmanager, so `channel!=sendgrid` matches a failure with no channel.
type Matcher struct {
	Name  string
	Op    Op
	Value string
	re    *regexp.Regexp
}

var labelName = lazyregexp.New(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// Parse reads a matcher written `name op value`, with optional spaces and an
// optional double-quoted value: `severity=critical`, `channel =~ "ses|sendgrid"`.
func Parse(s string) (Matcher, error) {
	if len(s) > maxLength {
		return Matcher{}, fmt.Errorf("matcher longer than %d characters", maxLength)
	}
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return Matcher{}, fmt.Errorf("matcher %q: want name=value, name!=value, name=~regex or name!~regex", s)
	}
	name := strings.TrimSpace(s[:i])
	rest := s[i:]
	var op Op
	for _, o := range []Op{Regex, NotRegex, NotEqual, Equal} {
		if strings.HasPrefix(rest, string(o)) {
			op = o
			break
		}
	}
	if op == "" {
		return Matcher{}, fmt.Errorf("matcher %q: unknown operator", s)
	}
	value := strings.TrimSpace(rest[len(op):])
	if strings.HasPrefix(value, `"`) {
		// Only \" is an escape, so a regex keeps its backslashes as written.
		if len(value) < 2 || !strings.HasSuffix(value, `"`) || strings.HasSuffix(value, `\"`) && len(value) > 2 {
			return Matcher{}, fmt.Errorf("matcher %q: unterminated quoted value", s)
		}
		value = strings.ReplaceAll(value[1:len(value)-1], `\"`, `"`)
	}
	return New(name, op, value)
}

// New builds a matcher, compiling a regex anchored at both ends.
func New(name string, op Op, value string) (Matcher, error) {
	if !labelName.MatchString(name) {
		return Matcher{}, fmt.Errorf("matcher: bad label name %q", name)
	}
	m := Matcher{Name: name, Op: op, Value: value}
	switch op {
	case Equal, NotEqual:
	case Regex, NotRegex:
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return Matcher{}, fmt.Errorf("matcher %s%s%q: %w", name, op, value, err)
		}
		m.re = re
	default:
		return Matcher{}, fmt.Errorf("matcher: unknown operator %q", op)
	}
	return m, nil
}

// ParseAll parses each of ss.
func ParseAll(ss []string) ([]Matcher, error) {
	out := make([]Matcher, 0, len(ss))
	for _, s := range ss {
		m, err := Parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Matches reports whether s satisfies m.
func (m Matcher) Matches(s Set) bool {
	v := s[m.Name]
	switch m.Op {
	case Equal:
		return v == m.Value
	case NotEqual:
		return v != m.Value
	case Regex:
		return m.re.MatchString(v)
	case NotRegex:
		return !m.re.MatchString(v)
	}
	return false
}

// String writes m back in the form Parse reads.
func (m Matcher) String() string {
	return m.Name + string(m.Op) + `"` + strings.ReplaceAll(m.Value, `"`, `\"`) + `"`
}

// All reports whether s satisfies every matcher; no matchers match anything.
func All(ms []Matcher, s Set) bool {
	for _, m := range ms {
		if !m.Matches(s) {
			return false
		}
	}
	return true
}

// Strings writes each matcher back as text.
func Strings(ms []Matcher) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}
