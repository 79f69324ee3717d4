package journey

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/eventpattern"
)

// Step kinds: what a matching event does to an instance.
const (
	StepStage    = "stage"
	StepComplete = "complete"
	StepAbandon  = "abandon"
)

// Catalog matches interactions against every journey's patterns at once.
// It is read-only once built.
type Catalog struct {
	index eventpattern.Index[patternRef]
	defs  []Definition
}

// patternRef names one pattern of one definition inside the matcher.
type patternRef struct {
	def   int
	kind  string
	stage int
}

// NewCatalog compiles definitions loaded by Load.
func NewCatalog(defs []Definition) (*Catalog, error) {
	c := &Catalog{defs: defs}
	for i, d := range defs {
		if d.start == nil || len(d.path) == 0 {
			return nil, fmt.Errorf("journey %q was not loaded through Load", d.ID)
		}
		add := func(ref patternRef, p *eventpattern.Pattern) {
			if p != nil {
				c.index.Add(p, ref)
			}
		}
		for s, st := range d.Stages {
			add(patternRef{def: i, kind: StepStage, stage: s}, st.enter)
		}
		add(patternRef{def: i, kind: StepComplete}, d.complete)
		add(patternRef{def: i, kind: StepAbandon}, d.abandon)
	}
	return c, nil
}

// Definitions returns the compiled journeys.
func (c *Catalog) Definitions() []Definition {
	if c == nil {
		return nil
	}
	return c.defs
}

// Match is one journey instance an event moves.
type Match struct {
	Def      *Definition
	Instance string
	Step     Step
}

// Ref names the instance.
func (m Match) Ref() Ref { return Ref{Journey: m.Def.ID, Instance: m.Instance} }

// Match returns the journey instances the interaction moves. When several
// of one journey's patterns match, abandon beats complete beats the latest
// stage: the strongest statement the event makes wins. Journeys whose
// instance key the event lacks are skipped.
func (c *Catalog) Match(ev events.Interaction) ([]Match, error) {
	if c == nil || len(c.defs) == 0 {
		return nil, nil
	}
	// Patterns are written against the bus envelope, as rules are.
	env, err := json.Marshal(struct {
		Source     string             `json:"source"`
		DetailType string             `json:"detail-type"`
		Detail     events.Interaction `json:"detail"`
	}{events.SourceIngest, ev.Type, ev})
	if err != nil {
		return nil, fmt.Errorf("encode %s for matching: %w", ev.ID, err)
	}
	var doc any
	if err := json.Unmarshal(env, &doc); err != nil {
		return nil, fmt.Errorf("decode %s for matching: %w", ev.ID, err)
	}
	hits := c.index.Match(doc)
	if len(hits) == 0 {
		return nil, nil
	}
	best := map[int]patternRef{}
	for _, r := range hits {
		if b, ok := best[r.def]; !ok || rank(r) > rank(b) {
			best[r.def] = r
		}
	}
	out := make([]Match, 0, len(best))
	for i := range c.defs {
		r, ok := best[i]
		if !ok {
			continue
		}
		d := &c.defs[i]
		inst, ok := instance(ev, d.path)
		if !ok || len(inst) > MaxInstance {
			continue
		}
		st := Step{EventID: ev.ID, At: ev.OccurredAt.UTC(), Kind: r.kind, Channel: ev.Channel}
		if r.kind == StepStage {
			st.Stage = d.Stages[r.stage].ID
		}
		out = append(out, Match{Def: d, Instance: inst, Step: st})
	}
	return out, nil
}

func rank(r patternRef) int {
	switch r.kind {
	case StepAbandon:
		return 1 << 20
	case StepComplete:
		return 1 << 19
	}
	return r.stage
}

// MaxInstance bounds an instance key: it becomes part of a DynamoDB key.
const MaxInstance = 512

// instance reads the instance key at path ("detail", then fields of the
// interaction) without re-encoding the event: attributes and customer ids
// are where instance keys live.
func instance(ev events.Interaction, path []string) (string, bool) {
	if len(path) < 2 || path[0] != "detail" {
		return "", false
	}
	switch path[1] {
	case "attributes":
		return lookup(ev.Attributes, path[2:])
	case "customer":
		if len(path) != 3 {
			return "", false
		}
		v := map[string]string{"id": ev.Customer.ID, "email": ev.Customer.Email, "phone": ev.Customer.Phone}[path[2]]
		return v, v != ""
	case "channel":
		return ev.Channel, len(path) == 2
	case "delivery_id":
		return ev.DeliveryID, len(path) == 2 && ev.DeliveryID != ""
	}
	return "", false
}

// lookup reads a string or number at path; anything else (absent, empty,
// an object) means the event names no instance.
func lookup(doc map[string]any, path []string) (string, bool) {
	var v any = doc
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		v = m[p]
	}
	switch x := v.(type) {
	case string:
		return x, x != ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}
