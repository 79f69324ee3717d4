package journey

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ocxhq/ocx/internal/configfile"
	"github.com/ocxhq/ocx/internal/eventpattern"
	"github.com/ocxhq/ocx/internal/lazyregexp"
)

// Definition is one journey from configuration: how an instance of it (one
// order, one ticket) starts, the stages it moves through with an SLA each,
// and what completes or abandons it.
type Definition struct {
	ID          string
	Description string
	// Team owns the journey; it is carried on journey events so failure
	// rules can route stalls to it.
	Team string
	// Instance is the dotted path in the event envelope whose value names
	// the instance, e.g. detail.attributes.order_id.
	Instance string
	Stages   []Stage

	path     []string
	start    *eventpattern.Pattern // the first stage's entry
	complete *eventpattern.Pattern
	abandon  *eventpattern.Pattern
}

// Stage is one step of a journey.
type Stage struct {
	ID string
	// SLA is how long an instance may stay in the stage; zero means no SLA.
	SLA   time.Duration
	enter *eventpattern.Pattern // the first stage is entered by the start pattern
}

// index returns the position of a stage, or -1 when the definition no
// longer has it (configuration changed since the step was recorded).
func (d *Definition) index(stage string) int {
	for i, s := range d.Stages {
		if s.ID == stage {
			return i
		}
	}
	return -1
}

// The YAML shape of a journey file.
type fileJourney struct {
	ID          string         `yaml:"id"`
	Description string         `yaml:"description"`
	Team        string         `yaml:"team"`
	Instance    string         `yaml:"instance"`
	Start       map[string]any `yaml:"start"`
	Stages      []fileStage    `yaml:"stages"`
	Complete    map[string]any `yaml:"complete"`
	Abandon     map[string]any `yaml:"abandon"`
}

type fileStage struct {
	ID    string         `yaml:"id"`
	SLA   string         `yaml:"sla"`
	Enter map[string]any `yaml:"enter"`
}

var (
	journeyFields = []string{"id", "description", "team", "instance", "start", "stages", "complete", "abandon"}
	stageFields   = []string{"id", "sla", "enter"}
	idPattern     = lazyregexp.Bounded(`^[a-z][a-z0-9-]*$`, 63)  // ^[a-z][a-z0-9-]{0,62}$
	stagePattern  = lazyregexp.Bounded(`^[a-z][a-z0-9_-]*$`, 63) // ^[a-z][a-z0-9_-]{0,62}$
	pathPattern   = lazyregexp.New(`^detail(\.[A-Za-z0-9_-]+)+$`)
)

// Load reads every *.yaml file in dir of fsys and validates the journeys,
// reporting all problems as `file:line: what is wrong`. A missing or empty
// directory means no journeys: identity resolution works without them.
// teams lists the team ids a journey may name; nil skips that check.
func Load(fsys fs.FS, dir string, teams []string) ([]Definition, error) {
	var known map[string]bool
	if teams != nil {
		known = map[string]bool{}
		for _, t := range teams {
			known[t] = true
		}
	}
	each := func(f string, n *yaml.Node, j fileJourney, ps *configfile.Problems) Definition {
		return compile(f, n, j, known, ps)
	}
	out, _, err := configfile.Dir(fsys, dir, "journeys", "journey", each, func(d Definition) string { return d.ID })
	return out, err
}

func compile(file string, node *yaml.Node, j fileJourney, teams map[string]bool, ps *configfile.Problems) Definition {
	at := func(field string) *yaml.Node { return configfile.Field(node, field) }
	unknownFields(file, node, journeyFields, "journey", ps)
	d := Definition{ID: j.ID, Description: j.Description, Team: j.Team, Instance: j.Instance}
	switch {
	case j.ID == "":
		ps.Add(file, node, "journey has no id")
	case !idPattern.MatchString(j.ID):
		ps.Add(file, at("id"), "journey id %q must be lower-case letters, digits and dashes", j.ID)
	}
	if j.Description == "" {
		ps.Add(file, node, "journey %q has no description", j.ID)
	}
	if j.Team != "" && teams != nil && !teams[j.Team] {
		ps.Add(file, at("team"), "journey %q: unknown team %q", j.ID, j.Team)
	}
	switch {
	case j.Instance == "":
		ps.Add(file, node, "journey %q has no instance key (the event field naming one order, one ticket, e.g. detail.attributes.order_id)", j.ID)
	case !pathPattern.MatchString(j.Instance) || !instancePath(strings.Split(j.Instance, ".")):
		ps.Add(file, at("instance"), "journey %q: instance %q must be detail.attributes.<name>, detail.customer.id|email|phone or detail.channel, e.g. detail.attributes.order_id", j.ID, j.Instance)
	default:
		d.path = strings.Split(j.Instance, ".")
	}
	d.start = pattern(file, at("start"), j.ID, "start", j.Start, true, ps)
	d.complete = pattern(file, at("complete"), j.ID, "complete", j.Complete, false, ps)
	d.abandon = pattern(file, at("abandon"), j.ID, "abandon", j.Abandon, false, ps)
	stages := configfile.Lookup(node, "stages")
	if len(j.Stages) == 0 {
		ps.Add(file, at("stages"), "journey %q has no stages", j.ID)
		return d
	}
	seen := map[string]bool{}
	for i, s := range j.Stages {
		sn := stages.Content[i]
		unknownFields(file, sn, stageFields, "stage", ps)
		st := Stage{ID: s.ID}
		switch {
		case !stagePattern.MatchString(s.ID):
			ps.Add(file, configfile.Field(sn, "id"), "journey %q: stage id %q must be lower-case letters, digits, _ and -", j.ID, s.ID)
		case seen[s.ID]:
			ps.Add(file, configfile.Field(sn, "id"), "journey %q: stage %q defined twice", j.ID, s.ID)
		}
		seen[s.ID] = true
		if s.SLA != "" {
			sla, err := parseSLA(s.SLA)
			if err != nil {
				ps.Add(file, configfile.Field(sn, "sla"), "journey %q stage %q: %v", j.ID, s.ID, err)
			}
			st.SLA = sla
		}
		if i == 0 {
			if s.Enter != nil {
				ps.Add(file, configfile.Field(sn, "enter"), "journey %q: the first stage %q is entered by the journey's start pattern; remove its enter", j.ID, s.ID)
			}
			st.enter = d.start
		} else {
			st.enter = pattern(file, configfile.Field(sn, "enter"), j.ID, "stage "+s.ID+" enter", s.Enter, true, ps)
		}
		d.Stages = append(d.Stages, st)
	}
	return d
}

// instancePath reports whether the matcher can read an instance key there.
func instancePath(p []string) bool {
	switch p[1] {
	case "attributes":
		return len(p) >= 3
	case "customer":
		return len(p) == 3 && (p[2] == "id" || p[2] == "email" || p[2] == "phone")
	case "channel", "delivery_id":
		return len(p) == 2
	}
	return false
}

// pattern compiles an EventBridge pattern; nil when there is none or it
// is wrong.
func pattern(file string, node *yaml.Node, journey, what string, p map[string]any, required bool, ps *configfile.Problems) *eventpattern.Pattern {
	if len(p) == 0 {
		if required {
			ps.Add(file, node, "journey %q has no %s pattern", journey, what)
		}
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		ps.Add(file, node, "journey %q: %s pattern is not JSON-compatible: %v", journey, what, err)
		return nil
	}
	c, err := eventpattern.Compile(b)
	if err != nil {
		ps.Add(file, node, "journey %q: invalid %s event pattern: %v", journey, what, strings.ReplaceAll(err.Error(), "\n", "; "))
		return nil
	}
	return c
}

// parseSLA reads a duration such as 4h, 90m or 2d (days are 24 hours).
func parseSLA(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n float64
		n, err = strconv.ParseFloat(days, 64)
		d = time.Duration(n * float64(24*time.Hour))
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("sla %q: want a positive duration such as 4h, 90m or 2d", s)
	}
	return d, nil
}

// unknownFields reports keys a mapping should not have: a misspelt "sla"
// would otherwise silently mean "no SLA".
func unknownFields(file string, node *yaml.Node, allowed []string, what string, ps *configfile.Problems) {
	if node == nil || node.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k := node.Content[i]
		ok := false
		for _, a := range allowed {
			ok = ok || k.Value == a
		}
		if !ok {
			ps.Add(file, k, "unknown %s field %q (known: %s)", what, k.Value, strings.Join(allowed, ", "))
		}
	}
}
