// Package rules evaluates failure rules against the events on the bus and
// turns matches into failures the owning team hears about.
package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"quamina.net/go/quamina"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/bus"
)

// Engine matches events against rules.
type Engine struct {
	// A Quamina instance is not safe for concurrent use.
	mu    sync.Mutex
	q     *quamina.Quamina
	rules map[string]Rule
}

// NewEngine compiles the rules.
func NewEngine(rs []Rule) (*Engine, error) {
	q, err := quamina.New()
	if err != nil {
		return nil, fmt.Errorf("new matcher: %w", err)
	}
	e := &Engine{q: q, rules: map[string]Rule{}}
	for _, r := range rs {
		if r.pattern == "" {
			return nil, fmt.Errorf("rule %q was not loaded through Load", r.ID)
		}
		if err := q.AddPattern(r.ID, r.pattern); err != nil {
			return nil, fmt.Errorf("rule %q: %w", r.ID, err)
		}
		e.rules[r.ID] = r
	}
	return e, nil
}

// Match returns the rules whose pattern matches the envelope JSON.
func (e *Engine) Match(envelope []byte) ([]Rule, error) {
	e.mu.Lock()
	ids, err := e.q.MatchesForEvent(envelope)
	e.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("match event: %w", err)
	}
	out := make([]Rule, 0, len(ids))
	for _, id := range ids {
		out = append(out, e.rules[id.(string)])
	}
	return out, nil
}

// Store keeps failure records.
type Store interface {
	// Create stores a new failure. created is false when it already
	// exists; published says whether failure.detected went out for it.
	Create(ctx context.Context, f events.Failure) (created, published bool, err error)
	// MarkPublished records that failure.detected was published.
	MarkPublished(ctx context.Context, id string) error
}

// Service handles bus events.
type Service struct {
	Engine *Engine
	Store  Store
	Bus    bus.Publisher
	Now    func() time.Time
	Log    *slog.Logger
}

// Handle evaluates one bus event. A failure is recorded before it is
// published and marked published after, so a retried invocation publishes
// each failure once (notify dedupes the rare crash in between).
func (s *Service) Handle(ctx context.Context, env lambdaevents.CloudWatchEvent) error {
	raw, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode envelope %s: %w", env.ID, err)
	}
	matched, err := s.Engine.Match(raw)
	if err != nil {
		return fmt.Errorf("evaluate %s: %w", env.ID, err)
	}
	if len(matched) == 0 {
		return nil
	}
	ev, err := evidence(env)
	if err != nil {
		return err
	}
	for _, r := range matched {
		f := newFailure(r, ev, s.Now())
		created, published, err := s.Store.Create(ctx, f)
		if err != nil {
			return fmt.Errorf("record failure %s of rule %s: %w", f.ID, r.ID, err)
		}
		if published {
			continue
		}
		if err := s.Bus.Publish(ctx, bus.Event{Source: events.SourceRules, DetailType: events.TypeFailureDetected, Detail: f, Time: f.DetectedAt}); err != nil {
			return fmt.Errorf("publish failure %s: %w", f.ID, err)
		}
		if err := s.Store.MarkPublished(ctx, f.ID); err != nil {
			return fmt.Errorf("mark failure %s published: %w", f.ID, err)
		}
		s.Log.Info("failure detected", "failure_id", f.ID, "rule", r.ID, "team", r.Team, "event_id", ev.EventID, "new", created)
	}
	return nil
}

func evidence(env lambdaevents.CloudWatchEvent) (events.Evidence, error) {
	var in events.Interaction
	if err := json.Unmarshal(env.Detail, &in); err != nil {
		return events.Evidence{}, fmt.Errorf("decode detail of %s: %w", env.ID, err)
	}
	return events.Evidence{
		EventID: in.ID, Type: env.DetailType, Channel: in.Channel,
		OccurredAt: in.OccurredAt, Customer: in.Customer, Attributes: in.Attributes,
	}, nil
}

func newFailure(r Rule, ev events.Evidence, now time.Time) events.Failure {
	sum := sha256.Sum256([]byte(r.ID + "\x00" + ev.EventID))
	labels := map[string]string{"rule": r.ID, "team": r.Team, "severity": r.Severity}
	if ev.Channel != "" {
		labels["channel"] = ev.Channel
	}
	for k, v := range r.Labels {
		labels[k] = v
	}
	return events.Failure{
		ID: "flr_" + hex.EncodeToString(sum[:12]), RuleID: r.ID, Description: r.Description,
		Severity: r.Severity, Team: r.Team, Runbook: r.Runbook,
		CustomerID: customerRef(ev.Customer), Labels: labels,
		DetectedAt: now.UTC(), Evidence: []events.Evidence{ev},
	}
}

// customerRef names the customer by the strongest key the event carried;
// the journey function resolves it to a customer id concurrently.
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
