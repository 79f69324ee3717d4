package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ocxhq/ocx/internal/eventpattern"
	"github.com/ocxhq/ocx/internal/topology"
)

// Router plays EventBridge's part after PutEvents: it sees each entry the
// emulator's bus accepted (a tap on the emulator's endpoint, so functions
// publish with the same EventBridge client they use in AWS, and so does a
// bootstrap run by `ocx invoke`), builds the envelope EventBridge builds
// (id = the EventId PutEvents returned, time to the second, account,
// region, resources), matches it against the bus rules (the ones the CDK
// app builds from the same configuration: topology.BusRulesFor) and invokes
// each matching function asynchronously with Lambda's retry policy: a
// function error is retried twice, then the envelope goes to the
// function's dead-letter queue.
type Router struct {
	bus      string
	account  string
	region   string
	now      func() time.Time
	log      *slog.Logger
	rules    eventpattern.Index[string]
	targets  map[string]*target
	attempts int
	backoff  time.Duration
	wg       sync.WaitGroup

	// inflight counts queued and running deliveries; invocations counts
	// handler calls by function (what Lambda would bill).
	inflight    *pendingCount
	countMu     sync.Mutex
	invocations map[string]int
}

type target struct {
	fn     *lambdaFunction
	dlqURL string
	// offer, when set, is where the rule delivers instead of invoking the
	// function: its bus queue (topology.Function.Bus).
	offer func(fn, body string) bool
	mu    sync.Mutex
	queue [][]byte
	wake  chan struct{}
}

// push queues an envelope without blocking: the tap runs while the
// emulator is held, and a full queue must never wait on a consumer that
// needs the emulator.
func (t *target) push(env []byte) {
	t.mu.Lock()
	t.queue = append(t.queue, env)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *target) pop() ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.queue) == 0 {
		return nil, false
	}
	env := t.queue[0]
	t.queue = t.queue[1:]
	return env, true
}

// NewRouter compiles the routing table, rules, for the named bus.
func NewRouter(busName string, rules []topology.BusRule, now func() time.Time, log *slog.Logger) (*Router, error) {
	r := &Router{bus: busName, account: Account, region: Region, now: now, log: log,
		targets: map[string]*target{}, attempts: 3, backoff: 200 * time.Millisecond, inflight: newPendingCount()}
	for _, br := range rules {
		p, err := eventpattern.Compile([]byte(br.Pattern))
		if err != nil {
			return nil, fmt.Errorf("bus rule %s: %w", br.Name, err)
		}
		r.rules.Add(p, br.Target)
	}
	return r, nil
}

// Attach connects a function; dlqURL is its dead-letter queue.
func (r *Router) Attach(fn *lambdaFunction, dlqURL string) {
	r.targets[fn.name] = &target{fn: fn, dlqURL: dlqURL, wake: make(chan struct{}, 1)}
}

// AttachQueue connects a function that takes its bus events from a queue:
// its rules offer each envelope to the queue, as EventBridge's SQS target
// sends it; dlqURL keeps what could not be.
func (r *Router) AttachQueue(fn *lambdaFunction, offer func(fn, body string) bool, dlqURL string) {
	r.targets[fn.name] = &target{fn: fn, dlqURL: dlqURL, offer: offer, wake: make(chan struct{}, 1)}
}

// Targets returns the functions an envelope is routed to, in the order of
// the bus rules, each once.
func (r *Router) Targets(envelope []byte) ([]string, error) {
	doc, err := eventpattern.Decode(envelope)
	if err != nil {
		return nil, fmt.Errorf("route envelope: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, fn := range r.rules.Match(doc) {
		if !seen[fn] {
			seen[fn] = true
			out = append(out, fn)
		}
	}
	return out, nil
}

// putEvents is the part of PutEvents' request and answer the router reads.
type putEvents struct {
	Entries []struct {
		Source       string   `json:"Source"`
		DetailType   string   `json:"DetailType"`
		Detail       string   `json:"Detail"`
		EventBusName string   `json:"EventBusName"`
		Resources    []string `json:"Resources"`
		// Time is epoch seconds in the JSON protocol.
		Time *float64 `json:"Time"`
	} `json:"Entries"`
}

type putEventsAnswer struct {
	Entries []struct {
		EventID   string `json:"EventId"`
		ErrorCode string `json:"ErrorCode"`
	} `json:"Entries"`
}

// Tap receives every JSON-protocol request the emulator answered; it
// routes the entries of successful PutEvents calls to the stack's bus.
func (r *Router) Tap(target string, request, response []byte, status int) {
	if target != "AWSEvents.PutEvents" || status != 200 {
		return
	}
	var in putEvents
	var out putEventsAnswer
	if err := json.Unmarshal(request, &in); err != nil {
		r.log.Error("unreadable PutEvents request", "err", err)
		return
	}
	if err := json.Unmarshal(response, &out); err != nil {
		r.log.Error("unreadable PutEvents answer", "err", err)
		return
	}
	for i, e := range in.Entries {
		if i >= len(out.Entries) || out.Entries[i].EventID == "" {
			continue // the entry failed; EventBridge delivers nothing
		}
		if name := e.EventBusName[strings.LastIndexByte(e.EventBusName, '/')+1:]; name != r.bus {
			continue
		}
		at := r.now()
		if e.Time != nil {
			sec, frac := math.Modf(*e.Time)
			at = time.Unix(int64(sec), int64(frac*1e9))
		}
		resources := e.Resources
		if resources == nil {
			resources = []string{}
		}
		env, err := json.Marshal(lambdaevents.CloudWatchEvent{
			Version: "0", ID: out.Entries[i].EventID, DetailType: e.DetailType, Source: e.Source,
			AccountID: r.account, Time: at.UTC().Truncate(time.Second), Region: r.region, Resources: resources,
			Detail: json.RawMessage(e.Detail),
		})
		if err != nil {
			r.log.Error("cannot build envelope", "detail_type", e.DetailType, "err", err)
			continue
		}
		names, err := r.Targets(env)
		if err != nil {
			r.log.Error("cannot route", "detail_type", e.DetailType, "err", err)
			continue
		}
		for _, n := range names {
			if t, ok := r.targets[n]; ok {
				r.inflight.add(1)
				t.push(env)
			}
		}
	}
}

// Run delivers queued events until ctx ends.
func (r *Router) Run(ctx context.Context, sqsc *sqs.Client) {
	for _, t := range r.targets {
		r.wg.Add(1)
		go func(t *target) {
			defer r.wg.Done()
			for {
				env, ok := t.pop()
				if !ok {
					select {
					case <-ctx.Done():
						return
					case <-t.wake:
						continue
					}
				}
				r.deliver(ctx, sqsc, t, env)
				r.inflight.add(-1)
			}
		}(t)
	}
}

// Wait blocks until the delivery loops have stopped.
func (r *Router) Wait() { r.wg.Wait() }

func (r *Router) deliver(ctx context.Context, sqsc *sqs.Client, t *target, env []byte) {
	wait := r.backoff
	var err error
	for attempt := 1; attempt <= r.attempts; attempt++ {
		if t.offer != nil {
			// The event source mapping invokes the function, in batches.
			if t.offer(t.fn.name, string(env)) {
				return
			}
			err = fmt.Errorf("%s has no bus queue", t.fn.name)
			r.log.Warn("cannot send to the function's queue", "function", t.fn.name, "attempt", attempt, "err", err)
		} else {
			r.count(t.fn.name)
			if _, err = t.fn.invoke(ctx, env); err == nil {
				return
			}
			r.log.Warn("function error", "function", t.fn.name, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
	// As Lambda's dead-letter queue: the event as the body, the error in
	// the message attributes.
	_, serr := sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(t.dlqURL), MessageBody: aws.String(string(env)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"ErrorMessage": {DataType: aws.String("String"), StringValue: aws.String(truncate(err.Error(), 1024))},
		}})
	r.log.Error("event sent to dead-letter queue", "function", t.fn.name, "err", err, "dlq_err", serr)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
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

// IdleWithin waits until every published event has been delivered to its
// target (invoked, or sent to its bus queue), including the events those
// deliveries published, for at most limit: a stack that never settles is
// an error naming what is still queued, not a wait without end.
func (r *Router) IdleWithin(limit time.Duration) error {
	if r.inflight.waitIdle(limit) {
		return nil
	}
	queued := map[string]int{}
	for name, t := range r.targets {
		t.mu.Lock()
		queued[name] = len(t.queue)
		t.mu.Unlock()
	}
	return fmt.Errorf("bus deliveries still pending after %s (%d in flight; queued by function: %v)", limit, r.inflight.count(), queued)
}
