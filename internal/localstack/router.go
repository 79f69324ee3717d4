package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"quamina.net/go/quamina"

	"github.com/ocxhq/ocx/internal/app"
	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/topology"
)

// Router publishes to the emulator's bus, then delivers each event to the
// functions whose topology.BusRules pattern matches it, as EventBridge does
// in AWS. Delivery is asynchronous with Lambda's retry policy: a handler
// error is retried twice, then the event goes to the function's
// dead-letter queue.
type Router struct {
	next     bus.Publisher
	account  string
	log      *slog.Logger
	mu       sync.Mutex
	q        *quamina.Quamina
	targets  map[string]*target
	attempts int
	backoff  time.Duration
	wg       sync.WaitGroup

	// inflight counts queued and running deliveries; invocations counts
	// handler calls by function (what Lambda would bill).
	inflight    sync.WaitGroup
	countMu     sync.Mutex
	invocations map[string]int
}

type target struct {
	name    string
	handler app.EventHandler
	queue   chan lambdaevents.CloudWatchEvent
	dlqURL  string
}

// NewRouter compiles the routing table.
func NewRouter(next bus.Publisher, log *slog.Logger) (*Router, error) {
	q, err := quamina.New()
	if err != nil {
		return nil, err
	}
	for _, r := range topology.BusRules {
		if err := q.AddPattern(r.Name, r.Pattern); err != nil {
			return nil, fmt.Errorf("bus rule %s: %w", r.Name, err)
		}
	}
	return &Router{next: next, account: "000000000000", log: log, q: q, targets: map[string]*target{}, attempts: 3, backoff: 200 * time.Millisecond}, nil
}

// Attach connects a function's handler; dlqURL is its dead-letter queue.
func (r *Router) Attach(function string, h app.EventHandler, dlqURL string) {
	r.targets[function] = &target{name: function, handler: h, queue: make(chan lambdaevents.CloudWatchEvent, 4096), dlqURL: dlqURL}
}

// Targets returns the functions an envelope is routed to.
func (r *Router) Targets(envelope []byte) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ms, err := r.q.MatchesForEvent(envelope)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for _, br := range topology.BusRules {
			if br.Name == m.(string) && !seen[br.Target] {
				seen[br.Target] = true
				out = append(out, br.Target)
			}
		}
	}
	return out, nil
}

// Publish implements bus.Publisher.
func (r *Router) Publish(ctx context.Context, evs ...bus.Event) error {
	if err := r.next.Publish(ctx, evs...); err != nil {
		return err
	}
	for _, e := range evs {
		env, raw, err := r.envelope(e)
		if err != nil {
			return err
		}
		names, err := r.Targets(raw)
		if err != nil {
			return fmt.Errorf("route %s: %w", e.DetailType, err)
		}
		for _, n := range names {
			if t, ok := r.targets[n]; ok {
				r.inflight.Add(1)
				t.queue <- env
			}
		}
	}
	return nil
}

func (r *Router) envelope(e bus.Event) (lambdaevents.CloudWatchEvent, []byte, error) {
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		return lambdaevents.CloudWatchEvent{}, nil, fmt.Errorf("encode %s: %w", e.DetailType, err)
	}
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	env := lambdaevents.CloudWatchEvent{
		Version: "0", ID: newID(), DetailType: e.DetailType, Source: e.Source,
		AccountID: r.account, Time: at.UTC(), Region: "us-east-1", Resources: e.Resources, Detail: detail,
	}
	if env.Resources == nil {
		env.Resources = []string{}
	}
	raw, err := json.Marshal(env)
	return env, raw, err
}

// Run delivers queued events until ctx ends.
func (r *Router) Run(ctx context.Context, sqsc *sqs.Client) {
	for _, t := range r.targets {
		r.wg.Add(1)
		go func(t *target) {
			defer r.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case env := <-t.queue:
					r.deliver(ctx, sqsc, t, env)
					r.inflight.Done()
				}
			}
		}(t)
	}
}

// Wait blocks until the delivery loops have stopped.
func (r *Router) Wait() { r.wg.Wait() }

func (r *Router) deliver(ctx context.Context, sqsc *sqs.Client, t *target, env lambdaevents.CloudWatchEvent) {
	wait := r.backoff
	var err error
	for attempt := 1; attempt <= r.attempts; attempt++ {
		r.count(t.name)
		if err = t.handler(ctx, env); err == nil {
			return
		}
		r.log.Warn("handler failed", "function", t.name, "event_id", env.ID, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
	body, _ := json.Marshal(env)
	_, serr := sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(t.dlqURL), MessageBody: aws.String(string(body))})
	r.log.Error("event sent to dead-letter queue", "function", t.name, "event_id", env.ID, "err", err, "dlq_err", serr)
}

func (r *Router) count(function string) {
	r.countMu.Lock()
	defer r.countMu.Unlock()
	if r.invocations == nil {
		r.invocations = map[string]int{}
	}
	r.invocations[function]++
}

// Invocations returns handler calls by function since the last reset, and
// resets the counts.
func (r *Router) Invocations() map[string]int {
	r.countMu.Lock()
	defer r.countMu.Unlock()
	out := r.invocations
	r.invocations = nil
	return out
}

// Idle waits until every published event has been delivered, including
// the events those deliveries published.
func (r *Router) Idle() { r.inflight.Wait() }
