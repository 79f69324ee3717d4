// Package rules evaluates failure rules against the events on the bus and
// turns what they find into failures the owning team hears about.
//
// Rules are configuration (infra/config/rules/*.yaml): match, count,
// sequence, absence, stall and rate rules over EventBridge event patterns,
// each keyed (per customer, order, ticket, journey instance or dimension)
// and deduplicated with a cooldown. Their state — windows of recent events,
// pending deadlines, cooldowns, rate tallies — lives in a Store, so the
// rules function can run as many concurrent copies as Lambda likes; a
// schedule fires deadlines that came due and re-evaluates rates.
package rules

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/eventpattern"
)

// Engine matches events against rules' patterns. It is read-only once
// built, so concurrent copies of a handler may share it.
type Engine struct {
	rules []Rule
	byID  map[string]*Rule
	index eventpattern.Index[target]
}

// target is one role of one rule.
type target struct {
	rule int
	role string
}

// NewEngine compiles the rules.
func NewEngine(rs []Rule) (*Engine, error) {
	e := &Engine{rules: append([]Rule(nil), rs...), byID: map[string]*Rule{}}
	for i := range e.rules {
		r := &e.rules[i]
		if len(r.patterns) == 0 {
			return nil, fmt.Errorf("rule %q was not loaded through Load", r.ID)
		}
		e.byID[r.ID] = r
		// Roles in a fixed order, so matching does not depend on map order.
		roles := make([]string, 0, len(r.patterns))
		for role := range r.patterns {
			roles = append(roles, role)
		}
		sort.Strings(roles)
		for _, role := range roles {
			e.index.Add(r.patterns[role], target{rule: i, role: role})
		}
	}
	return e, nil
}

// Rule returns the rule with id.
func (e *Engine) Rule(id string) (*Rule, bool) {
	r, ok := e.byID[id]
	return r, ok
}

// Event is a bus event decoded once for matching, keying and evidence.
type Event struct {
	// ID identifies the event across redeliveries: the interaction id, or
	// the envelope id for events that carry none.
	ID string
	// At is when it happened: detail.occurred_at, else the envelope time.
	At         time.Time
	Type       string
	CustomerID string
	Evidence   events.Evidence
	doc        map[string]any
}

// DecodeEvent prepares an EventBridge envelope for evaluation.
func DecodeEvent(env events.Envelope) (Event, error) {
	if env.Resources == nil {
		env.Resources = []string{}
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return Event{}, fmt.Errorf("encode envelope %s: %w", env.ID, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Event{}, fmt.Errorf("decode envelope %s: %w", env.ID, err)
	}
	detail, _ := doc["detail"].(map[string]any)
	ev := Event{ID: env.ID, At: env.Time.UTC(), Type: env.DetailType, doc: doc}
	if id, ok := detail["id"].(string); ok && id != "" {
		ev.ID = id
	}
	if s, ok := detail["occurred_at"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			ev.At = t.UTC()
		}
	}
	var cust events.Customer
	if c, ok := detail["customer"].(map[string]any); ok {
		cust.ID, _ = c["id"].(string)
		cust.Email, _ = c["email"].(string)
		cust.Phone, _ = c["phone"].(string)
	}
	ev.CustomerID, _ = detail["customer_id"].(string)
	if ev.CustomerID == "" {
		ev.CustomerID = customerRef(cust)
	}
	channel, _ := detail["channel"].(string)
	attrs, ok := detail["attributes"].(map[string]any)
	if !ok {
		// Journey events carry their facts at the top of the detail.
		attrs = map[string]any{}
		for k, v := range detail {
			switch k {
			case "id", "type", "channel", "occurred_at", "received_at", "customer", "delivery_id", "raw":
			default:
				attrs[k] = v
			}
		}
	}
	ev.Evidence = events.Evidence{EventID: ev.ID, Type: env.DetailType, Channel: channel, OccurredAt: ev.At,
		Customer: cust, Attributes: scalars(attrs)}
	return ev, nil
}

// maxEvidenceValue bounds a string attribute kept as evidence: rule state
// and failures carry evidence, and a free-text comment need not be whole.
const maxEvidenceValue = 200

// scalars keeps the scalar attributes; nested objects and lists seldom
// help a person reading a failure and can hold a whole provider payload.
func scalars(attrs map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range attrs {
		switch x := v.(type) {
		case string:
			if len(x) > maxEvidenceValue {
				x = strings.ToValidUTF8(x[:maxEvidenceValue], "") + "…"
			}
			out[k] = x
		case float64, bool:
			out[k] = x
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// customerRef names the customer by the strongest key the event carried.
func customerRef(c events.Customer) string {
	switch {
	case c.ID != "":
		return c.ID
	case c.Email != "":
		return c.Email
	default:
		return c.Phone
	}
}

// Hit is a rule an event matched and the roles it matched in.
type Hit struct {
	Rule  *Rule
	Roles map[string]bool
}

// Match returns the rules the event matches, in rule order.
func (e *Engine) Match(ev Event) ([]Hit, error) {
	roles := map[int]map[string]bool{}
	for _, t := range e.index.Match(ev.doc) {
		if roles[t.rule] == nil {
			roles[t.rule] = map[string]bool{}
		}
		roles[t.rule][t.role] = true
	}
	var out []Hit
	for i := range e.rules {
		if rs, ok := roles[i]; ok {
			out = append(out, Hit{Rule: &e.rules[i], Roles: rs})
		}
	}
	return out, nil
}

// MatchEnvelope is Match on a raw envelope, for tools and tests.
func (e *Engine) MatchEnvelope(env events.Envelope) ([]Hit, error) {
	ev, err := DecodeEvent(env)
	if err != nil {
		return nil, err
	}
	return e.Match(ev)
}
