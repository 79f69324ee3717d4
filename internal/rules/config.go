package rules

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ocxhq/ocx/internal/configfile"
	"github.com/ocxhq/ocx/internal/eventpattern"
	"github.com/ocxhq/ocx/internal/lazyregexp"
	"github.com/ocxhq/ocx/internal/loop"
)

// Kinds of rule.
const (
	// KindMatch: one event matches a pattern.
	KindMatch = "match"
	// KindCount: at least Threshold matching events for one key within Window.
	KindCount = "count"
	// KindSequence: an event matching First, then one matching Then, for one
	// key within Window.
	KindSequence = "sequence"
	// KindAbsence: an event matching Pattern not followed by one matching
	// Until for the same key by its deadline (Within, or the time at Due).
	KindAbsence = "absence"
	// KindStall: a journey stage not left by its SLA deadline; an absence
	// rule with journey defaults.
	KindStall = "stall"
	// KindRate: the ratio of events matching Pattern to events matching Of,
	// per key, above Threshold over the sliding Window with at least
	// MinVolume events matching Of.
	KindRate = "rate"
)

var kinds = []string{KindMatch, KindCount, KindSequence, KindAbsence, KindStall, KindRate}

// Pattern roles: which of a rule's patterns an event matched.
const (
	rolePattern = "pattern"
	roleFirst   = "first"
	roleThen    = "then"
	roleUntil   = "until"
	roleOf      = "of"
)

// Severities, from least to most urgent.
var severities = map[string]bool{"info": true, "warning": true, "critical": true}

// Defaults of the stall kind, from the journey events' contract: an event
// entering a stage with an SLA carries sla_due_at; any later stage change,
// completion or abandonment of the same instance leaves the stage.
const (
	stallPattern = `{source: [ocx.journey], detail: {sla_due_at: [{exists: true}]}}`
	stallUntil   = `{source: [ocx.journey], detail-type: [journey.stage_changed, journey.completed, journey.abandoned]}`
	stallDue     = "detail.sla_due_at"
)

var stallKey = []string{"detail.journey+detail.instance"}

// DefaultMatchCooldown holds back repeats of a match rule for one key.
const DefaultMatchCooldown = 24 * time.Hour

// Rule is one failure rule from configuration.
type Rule struct {
	ID          string
	Kind        string
	Description string
	Severity    string
	Team        string
	Runbook     string
	Labels      map[string]string
	// Key lists the key alternatives (see CustomerKey).
	Key []string
	// Cooldown: after a failure for a key, the same condition for the same
	// key within Cooldown counts as another occurrence of that failure
	// instead of a new one.
	Cooldown  time.Duration
	Window    time.Duration
	Within    time.Duration
	Threshold float64
	MinVolume int
	// Due is the path of an RFC 3339 deadline in the starting event.
	Due string
	// Actions (loop.Actions) the failure asks for; FollowUp is how soon the
	// team must reach the customer (0: no deadline); RecoveryWindow how
	// long the outcome is watched for (0: loop.DefaultRecoveryWindow).
	Actions        []string
	FollowUp       time.Duration
	RecoveryWindow time.Duration
	// AckReminder reminds of an acknowledged failure left unresolved, every
	// AckReminder; AutoResolve resolves a failure whose condition has not
	// recurred for that long. Zero does neither.
	AckReminder time.Duration
	AutoResolve time.Duration
	// File and Line say where the rule is defined.
	File string
	Line int

	key keyExpr
	due []string
	// journey is true for the stall kind: its events follow the journey
	// events' contract, whose stage times say when a stage was left.
	journey  bool
	patterns map[string]*eventpattern.Pattern
}

// ruleYAML is a rule as written.
type ruleYAML struct {
	ID          string            `yaml:"id"`
	Kind        string            `yaml:"kind"`
	Description string            `yaml:"description"`
	Severity    string            `yaml:"severity"`
	Team        string            `yaml:"team"`
	Runbook     string            `yaml:"runbook"`
	Labels      map[string]string `yaml:"labels"`
	Key         yaml.Node         `yaml:"key"`
	Cooldown    string            `yaml:"cooldown"`
	Window      string            `yaml:"window"`
	Within      string            `yaml:"within"`
	Threshold   *float64          `yaml:"threshold"`
	MinVolume   *int              `yaml:"min_volume"`
	Due         string            `yaml:"due"`
	Pattern     yaml.Node         `yaml:"pattern"`
	First       yaml.Node         `yaml:"first"`
	Then        yaml.Node         `yaml:"then"`
	Until       yaml.Node         `yaml:"until"`
	Of          yaml.Node         `yaml:"of"`

	// Closing the loop (internal/loop): what to do beyond notifying, how
	// soon the team must reach the customer, how long the outcome is
	// watched for.
	Actions        []string `yaml:"actions"`
	FollowUp       string   `yaml:"follow_up"`
	RecoveryWindow string   `yaml:"recovery_window"`
	AckReminder    string   `yaml:"ack_reminder"`
	AutoResolve    string   `yaml:"auto_resolve"`
}

// fieldsOf lists the fields each kind takes besides the common ones, so a
// field that does nothing for the kind is reported rather than ignored.
var fieldsOf = map[string][]string{
	KindMatch:    {"pattern"},
	KindCount:    {"pattern", "threshold", "window"},
	KindSequence: {"first", "then", "window"},
	KindAbsence:  {"pattern", "until", "within", "due"},
	KindStall:    {"pattern", "until", "within", "due"},
	KindRate:     {"pattern", "of", "threshold", "min_volume", "window"},
}

var common = []string{"id", "kind", "description", "severity", "team", "runbook", "labels", "key", "cooldown",
	"actions", "follow_up", "recovery_window", "ack_reminder", "auto_resolve"}

// Load reads every *.yaml file in dir of fsys and validates the rules,
// reporting all problems as `file:line: what is wrong`. teams lists the team
// ids a rule may name.
func Load(fsys fs.FS, dir string, teams []string) ([]Rule, error) {
	known := map[string]bool{}
	for _, t := range teams {
		known[t] = true
	}
	each := func(f string, n *yaml.Node, r ruleYAML, ps *configfile.Problems) Rule {
		return build(f, n, r, known, ps)
	}
	out, files, err := configfile.Dir(fsys, dir, "rules", "rule id", each, func(r Rule) string { return r.ID })
	if files == 0 && err == nil {
		return nil, fmt.Errorf("no rule files (*.yaml) in %s", dir)
	}
	return out, err
}

var ruleID = lazyregexp.New(`^[a-z0-9][a-z0-9._-]*$`)

func build(file string, node *yaml.Node, y ruleYAML, teams map[string]bool, ps *configfile.Problems) Rule {
	at := func(field string) *yaml.Node { return configfile.Field(node, field) }
	r := Rule{ID: y.ID, Kind: y.Kind, Description: y.Description, Severity: y.Severity, Team: y.Team,
		Runbook: y.Runbook, Labels: y.Labels, Due: y.Due, File: file, Line: node.Line, patterns: map[string]*eventpattern.Pattern{}}
	switch {
	case r.ID == "":
		ps.Add(file, node, "rule has no id")
	case !ruleID.MatchString(r.ID):
		ps.Add(file, at("id"), "rule id %q: use lower-case letters, digits and . _ -", r.ID)
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
	if r.Runbook != "" && !strings.HasPrefix(r.Runbook, "https://") && !strings.HasPrefix(r.Runbook, "http://") {
		ps.Add(file, at("runbook"), "rule %q: runbook %q must be an http(s) link", r.ID, r.Runbook)
	}

	if r.Kind == "" {
		ps.Add(file, node, "rule %q has no kind (want one of %s)", r.ID, strings.Join(kinds, ", "))
		return r
	}
	allowed, ok := fieldsOf[r.Kind]
	if !ok {
		ps.Add(file, at("kind"), "rule %q: unknown kind %q (want one of %s)", r.ID, r.Kind, strings.Join(kinds, ", "))
		return r
	}
	takes := map[string]bool{}
	for _, f := range append(append([]string(nil), common...), allowed...) {
		takes[f] = true
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if k := node.Content[i]; !takes[k.Value] {
			ps.Add(file, k, "rule %q: a %s rule has no field %q (it takes %s)", r.ID, r.Kind, k.Value, strings.Join(allowed, ", "))
		}
	}
	dur := func(field, s string) time.Duration {
		if s == "" {
			return 0
		}
		d, err := ParseDuration(s)
		if err != nil || d <= 0 {
			ps.Add(file, at(field), "rule %q: %s %q: want a positive duration such as 90s, 15m, 4h, 7d", r.ID, field, s)
			return 0
		}
		return d
	}
	r.Window, r.Within = dur("window", y.Window), dur("within", y.Within)
	r.FollowUp, r.RecoveryWindow = dur("follow_up", y.FollowUp), dur("recovery_window", y.RecoveryWindow)
	r.AckReminder, r.AutoResolve = dur("ack_reminder", y.AckReminder), dur("auto_resolve", y.AutoResolve)
	for _, a := range y.Actions {
		if !slices.Contains(loop.Actions, a) {
			ps.Add(file, at("actions"), "rule %q: unknown action %q (want one of %s)", r.ID, a, strings.Join(loop.Actions, ", "))
		}
	}
	r.Actions = y.Actions
	pattern := func(role string, n *yaml.Node, def string) {
		if n.Kind == 0 && def != "" {
			var doc yaml.Node
			_ = yaml.Unmarshal([]byte(def), &doc)
			n = doc.Content[0]
		}
		if n.Kind == 0 {
			ps.Add(file, node, "rule %q: a %s rule needs %s", r.ID, r.Kind, role)
			return
		}
		c, problems := eventpattern.CompileYAML(n)
		for _, p := range problems {
			ps.Add(file, p.Node, "rule %q: %s: %s", r.ID, role, p.Msg)
		}
		if len(problems) == 0 {
			r.patterns[role] = c
		}
	}
	needWindow := func() {
		if y.Window == "" {
			ps.Add(file, node, "rule %q: a %s rule needs a window", r.ID, r.Kind)
		}
	}
	threshold := 0.0
	if y.Threshold != nil {
		threshold = *y.Threshold
	}
	r.Threshold = threshold
	keyDefault := CustomerKey
	switch r.Kind {
	case KindMatch:
		pattern(rolePattern, &y.Pattern, "")
		r.Cooldown = DefaultMatchCooldown
	case KindCount:
		pattern(rolePattern, &y.Pattern, "")
		needWindow()
		if threshold < 2 || threshold != float64(int(threshold)) {
			ps.Add(file, at("threshold"), "rule %q: threshold must be a whole number of events, at least 2 (one event is a match rule)", r.ID)
		}
		r.Cooldown = r.Window
	case KindSequence:
		pattern(roleFirst, &y.First, "")
		pattern(roleThen, &y.Then, "")
		needWindow()
		r.Cooldown = r.Window
	case KindAbsence, KindStall:
		if r.Kind == KindStall {
			pattern(rolePattern, &y.Pattern, stallPattern)
			pattern(roleUntil, &y.Until, stallUntil)
			keyDefault = stallKey
			r.journey = true
			if r.Due == "" {
				r.Due = stallDue
			}
		} else {
			pattern(rolePattern, &y.Pattern, "")
			pattern(roleUntil, &y.Until, "")
			if r.Within == 0 && r.Due == "" {
				ps.Add(file, node, "rule %q: an absence rule needs within, due or both", r.ID)
			}
		}
		if r.Due != "" {
			segs := strings.Split(r.Due, ".")
			for _, s := range segs {
				if s == "" {
					ps.Add(file, at("due"), "rule %q: due %q is not a dotted path such as detail.attributes.promised_at", r.ID, r.Due)
				}
			}
			r.due = segs
		}
	case KindRate:
		pattern(rolePattern, &y.Pattern, "")
		pattern(roleOf, &y.Of, "")
		needWindow()
		if r.Window > 0 && (r.Window%time.Minute != 0) {
			ps.Add(file, at("window"), "rule %q: a rate window is counted in whole minutes", r.ID)
		}
		if threshold <= 0 || threshold >= 1 {
			ps.Add(file, at("threshold"), "rule %q: threshold is the ratio above which the rule fails, between 0 and 1 (0.05 for 5 %%)", r.ID)
		}
		r.MinVolume = 1
		if y.MinVolume != nil {
			r.MinVolume = *y.MinVolume
			if r.MinVolume < 1 {
				ps.Add(file, at("min_volume"), "rule %q: min_volume must be at least 1", r.ID)
			}
		}
		r.Cooldown = r.Window
	}
	if y.Cooldown != "" {
		d, err := ParseDuration(y.Cooldown)
		if err != nil || d < 0 {
			ps.Add(file, at("cooldown"), "rule %q: cooldown %q: want a duration such as 0s, 30m, 24h, 7d", r.ID, y.Cooldown)
		}
		r.Cooldown = d
	}
	r.Key = keyDefault
	if y.Key.Kind != 0 {
		var alts []string
		switch y.Key.Kind {
		case yaml.ScalarNode:
			alts = []string{y.Key.Value}
		case yaml.SequenceNode:
			if err := y.Key.Decode(&alts); err != nil {
				ps.Add(file, &y.Key, "rule %q: key: %v", r.ID, err)
			}
		default:
			ps.Add(file, &y.Key, "rule %q: key is a path or a list of paths tried in order", r.ID)
		}
		r.Key = alts
	}
	k, err := parseKey(r.Key)
	if err != nil {
		ps.Add(file, at("key"), "rule %q: %v", r.ID, err)
	}
	r.key = k
	return r
}

var durationPart = lazyregexp.New(`^(\d+(?:\.\d+)?)(ms|w|d|h|m|s)`)

// ParseDuration reads a duration as Go does, plus days (d) and weeks (w):
// "90s", "15m", "4h", "7d", "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	rest := s
	var total time.Duration
	for rest != "" {
		m := durationPart.Regexp().FindStringSubmatch(rest)
		if m == nil {
			return 0, fmt.Errorf("duration %q: want e.g. 90s, 15m, 4h, 7d", s)
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		unit := map[string]time.Duration{"w": 7 * 24 * time.Hour, "d": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second, "ms": time.Millisecond}[m[2]]
		total += time.Duration(n * float64(unit))
		rest = rest[len(m[0]):]
	}
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	return total, nil
}
