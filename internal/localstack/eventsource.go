package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ocxhq/ocx/internal/topology"
)

// wakeupQueueName is the physical name of a function's wake-up queue.
func wakeupQueueName(fn string) string { return "ocx-" + Stage + "-" + topology.WakeupQueueName(fn) }

// busQueueName is the physical name of the queue a function takes its bus
// events from (topology.Function.Bus).
func busQueueName(fn string) string { return "ocx-" + Stage + "-" + topology.BusQueueName(fn) }

// provisionWakeups creates each function's wake-up queue and its
// dead-letter queue in the emulator, as the CDK app does, and returns
// the queues' URLs by function.
func provisionWakeups(ctx context.Context, client *sqs.Client) (queues, dlqs map[string]string, err error) {
	return provisionQueues(ctx, client, func(f topology.Function) bool { return f.Wakeups }, wakeupQueueName)
}

// provisionBusQueues creates the queues the batched consumers take their
// bus events from, with their dead-letter queues.
func provisionBusQueues(ctx context.Context, client *sqs.Client) (queues, dlqs map[string]string, err error) {
	return provisionQueues(ctx, client, func(f topology.Function) bool { return f.Bus != nil }, busQueueName)
}

func provisionQueues(ctx context.Context, client *sqs.Client, want func(topology.Function) bool, name func(string) string) (queues, dlqs map[string]string, err error) {
	queues, dlqs = map[string]string{}, map[string]string{}
	for _, f := range topology.Functions {
		if !want(f) {
			continue
		}
		for _, q := range []struct {
			name string
			into map[string]string
		}{{name(f.Name) + "-dlq", dlqs}, {name(f.Name), queues}} {
			out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.name)})
			if err != nil {
				return nil, nil, fmt.Errorf("create queue %s: %w", q.name, err)
			}
			q.into[f.Name] = aws.ToString(out.QueueUrl)
		}
	}
	return queues, dlqs, nil
}

// EventSources plays Lambda's SQS event source mappings: for the
// functions' wake-up queues and for the queues the batched consumers take
// their bus events from (topology.Function.Bus). It sees each message sent
// to one of those queues (a tap on the emulator, as the Router sees
// PutEvents) and holds it: a wake-up for its DelaySeconds on the stack's
// clock — so a test that moves the clock sees it fire, and `make run`
// fires it on time —, a bus event until the queue's batch is full or its
// batching window has passed. It then invokes the function with an SQS
// batch event through its Lambda handler. Messages the handler reports in
// batchItemFailures, or all of a batch whose invocation failed, come back
// after the queue's visibility timeout and, after its MaxReceives tries,
// go to the queue's dead-letter queue, as SQS's redrive policy does.
type EventSources struct {
	now     func() time.Time
	log     *slog.Logger
	sources map[string]*eventSource // by queue name
	wg      sync.WaitGroup
	// held counts bus messages held and not yet handled, for Settle.
	held *pendingCount
	// hold hands bus batches over only when full (Config.HoldBatches).
	hold bool
}

type eventSource struct {
	fn     *lambdaFunction
	queue  string // name
	dlqURL string
	cfg    topology.Queue
	// bus is set for a bus queue (its messages are bus events).
	bus  bool
	mu   sync.Mutex
	held []*heldMessage
	// deliver is held by whoever is delivering, so a drain waits for a
	// batch in flight.
	deliver sync.Mutex
	// delivered counts the messages handed to the function; batches the
	// invocations; sizes lists every batch's size; sends the messages
	// offered since Sends was last called.
	delivered, batches, sends int
	sizes                     []int
}

type heldMessage struct {
	id, body string
	sent     time.Time
	due      time.Time
	// arrived is when the message reached the queue in real time: a
	// batching window is the mapping's own wait, not the business clock's.
	arrived  time.Time
	receives int
	// pending is set while the message counts in EventSources.held: from
	// its arrival until its first batch is handled.
	pending bool
}

// poll is how often the stack's clock is looked at: a test may move it
// at any moment without saying so.
const poll = 20 * time.Millisecond

func newEventSources(now func() time.Time, log *slog.Logger, hold bool) *EventSources {
	return &EventSources{now: now, log: log, sources: map[string]*eventSource{}, held: newPendingCount(), hold: hold}
}

// attach maps a function's wake-up queue (by URL) to it.
func (e *EventSources) attach(fn *lambdaFunction, queueURL, dlqURL string) {
	name := queueURL[strings.LastIndexByte(queueURL, '/')+1:]
	e.sources[name] = &eventSource{fn: fn, queue: name, dlqURL: dlqURL, cfg: topology.WakeupQueue}
}

// attachBus maps the queue a function takes its bus events from to it.
func (e *EventSources) attachBus(fn *lambdaFunction, cfg topology.Queue, queueURL, dlqURL string) {
	name := queueURL[strings.LastIndexByte(queueURL, '/')+1:]
	e.sources[name] = &eventSource{fn: fn, queue: name, dlqURL: dlqURL, cfg: cfg, bus: true}
}

// sendMessage is the part of SendMessage's request and answer read here.
type sendMessage struct {
	QueueURL     string `json:"QueueUrl"`
	MessageBody  string `json:"MessageBody"`
	DelaySeconds int    `json:"DelaySeconds"`
}

type sendMessageAnswer struct {
	MessageID string `json:"MessageId"`
}

// Tap receives every JSON-protocol request the emulator answered and holds
// the messages sent to a wake-up queue. It runs while the emulator is
// held, so it only queues.
func (e *EventSources) Tap(target string, request, response []byte, status int) {
	if target != "AmazonSQS.SendMessage" || status != 200 {
		return
	}
	var in sendMessage
	var out sendMessageAnswer
	if json.Unmarshal(request, &in) != nil || json.Unmarshal(response, &out) != nil {
		return
	}
	src := e.sources[in.QueueURL[strings.LastIndexByte(in.QueueURL, '/')+1:]]
	if src == nil {
		return
	}
	now := e.now()
	if src.bus {
		e.held.add(1)
	}
	src.mu.Lock()
	src.held = append(src.held, &heldMessage{id: out.MessageID, body: in.MessageBody, sent: now,
		due: now.Add(time.Duration(in.DelaySeconds) * time.Second), arrived: time.Now(), pending: src.bus})
	src.mu.Unlock()
}

// Offer puts a bus event on fn's bus queue as EventBridge's SQS target
// does, without a round trip to the emulator: the emulator would only
// hand it back through the tap, and every request there waits for the
// one before it. It counts as one SendMessage (Sends).
func (e *EventSources) Offer(fn, body string) bool {
	for _, src := range e.sources {
		if !src.bus || src.fn.name != fn {
			continue
		}
		now := e.now()
		e.held.add(1)
		src.mu.Lock()
		src.sends++
		src.held = append(src.held, &heldMessage{id: newID(), body: body, sent: now, due: now, arrived: time.Now(), pending: true})
		src.mu.Unlock()
		return true
	}
	return false
}

// Sends returns the messages put on each function's bus queue since the
// last call (each a SendMessage EventBridge makes), and resets them.
func (e *EventSources) Sends() map[string]int {
	out := map[string]int{}
	for _, src := range e.sources {
		src.mu.Lock()
		if src.bus && src.sends > 0 {
			out[src.fn.name] += src.sends
		}
		src.sends = 0
		src.mu.Unlock()
	}
	return out
}

// run delivers due messages until ctx ends, a bus queue's when its batch
// is full or its window has passed.
func (e *EventSources) run(ctx context.Context, client *sqs.Client) {
	for _, src := range e.sources {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			t := time.NewTicker(poll)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					src.deliverDue(ctx, client, e.now, e.log, e.held, e.hold, false)
				}
			}
		}()
	}
}

// Drain delivers every wake-up due by the stack's clock now, waiting for
// any batch in flight, so what a moved clock made due has happened when
// it returns.
func (e *EventSources) Drain(ctx context.Context, client *sqs.Client) {
	for _, src := range e.sources {
		if !src.bus {
			src.deliverDue(ctx, client, e.now, e.log, e.held, false, true)
		}
	}
}

// flushBus hands over every message due on fn's bus queue, without
// waiting for its batching window (what a settling stack wants now).
func (e *EventSources) flushBus(ctx context.Context, client *sqs.Client, fn string) int {
	n := 0
	for _, src := range e.sources {
		if src.bus && src.fn.name == fn {
			n += src.deliverDue(ctx, client, e.now, e.log, e.held, false, true)
		}
	}
	return n
}

// Delivered returns how many wake-ups each function was handed.
func (e *EventSources) Delivered() map[string]int {
	out := map[string]int{}
	for _, src := range e.sources {
		if src.bus {
			continue
		}
		src.mu.Lock()
		out[src.fn.name] += src.delivered
		src.mu.Unlock()
	}
	return out
}

// Invocations returns the batches handed to each function from its bus
// queue since the last call, and resets them.
func (e *EventSources) Invocations() map[string]int {
	out := map[string]int{}
	for _, src := range e.sources {
		src.mu.Lock()
		if src.bus && src.batches > 0 {
			out[src.fn.name] += src.batches
		}
		src.batches = 0
		src.mu.Unlock()
	}
	return out
}

// BatchSizes lists the sizes of the batches handed to fn from its bus
// queue, in order.
func (e *EventSources) BatchSizes(fn string) []int {
	for _, src := range e.sources {
		if src.bus && src.fn.name == fn {
			src.mu.Lock()
			defer src.mu.Unlock()
			return slices.Clone(src.sizes)
		}
	}
	return nil
}

func (e *EventSources) wait() { e.wg.Wait() }

// take removes up to n messages due by now. A bus queue hands out a batch
// only when it is full or its oldest message has waited out the window,
// unless now is forced.
func (src *eventSource) take(now time.Time, n int, hold, force bool) []*heldMessage {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.bus && !force {
		due, oldest := 0, time.Time{}
		for _, m := range src.held {
			if !m.due.After(now) {
				due++
				if oldest.IsZero() || m.arrived.Before(oldest) {
					oldest = m.arrived
				}
			}
		}
		if due == 0 || (due < n && (hold || time.Since(oldest) < src.cfg.Window)) {
			return nil
		}
	}
	var out []*heldMessage
	keep := src.held[:0]
	for _, m := range src.held {
		if len(out) < n && !m.due.After(now) {
			out = append(out, m)
			continue
		}
		keep = append(keep, m)
	}
	src.held = keep
	src.delivered += len(out)
	if len(out) > 0 {
		src.batches++
		src.sizes = append(src.sizes, len(out))
	}
	return out
}

// deliverDue hands over what is due and returns how many messages.
func (src *eventSource) deliverDue(ctx context.Context, client *sqs.Client, now func() time.Time, log *slog.Logger, held *pendingCount, hold, force bool) int {
	src.deliver.Lock()
	defer src.deliver.Unlock()
	n := 0
	for ctx.Err() == nil {
		batch := src.take(now(), src.cfg.BatchSize, hold, force)
		if len(batch) == 0 {
			break
		}
		n += len(batch)
		src.invoke(ctx, client, batch, now(), log, held)
	}
	return n
}

// invoke hands one batch to the function and puts back what failed.
func (src *eventSource) invoke(ctx context.Context, client *sqs.Client, batch []*heldMessage, at time.Time, log *slog.Logger, held *pendingCount) {
	ev := lambdaevents.SQSEvent{Records: make([]lambdaevents.SQSMessage, len(batch))}
	for i, m := range batch {
		m.receives++
		ev.Records[i] = lambdaevents.SQSMessage{
			MessageId: m.id, ReceiptHandle: m.id + "#" + strconv.Itoa(m.receives), Body: m.body,
			Attributes: map[string]string{
				"ApproximateReceiveCount":          strconv.Itoa(m.receives),
				"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
				"SenderId":                         Account,
				"ApproximateFirstReceiveTimestamp": strconv.FormatInt(at.UnixMilli(), 10),
			},
			MessageAttributes: map[string]lambdaevents.SQSMessageAttribute{},
			EventSource:       "aws:sqs",
			EventSourceARN:    "arn:aws:sqs:" + Region + ":" + Account + ":" + src.queue,
			AWSRegion:         Region,
		}
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		log.Error("cannot build SQS event", "queue", src.queue, "err", err)
		return
	}
	failed := map[string]bool{}
	out, err := src.fn.invoke(ctx, payload)
	if err != nil {
		log.Warn("function error on a batch; it comes back after the visibility timeout", "function", src.fn.name, "queue", src.queue, "err", err)
		for _, m := range batch {
			failed[m.id] = true
		}
	} else {
		var resp lambdaevents.SQSEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			log.Error("unreadable batch response; every message counts as failed", "function", src.fn.name, "err", err)
			for _, m := range batch {
				failed[m.id] = true
			}
		}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
	}
	for _, m := range batch {
		if m.pending {
			// Handled, parked or waiting out its visibility: no longer
			// pending for a settling stack.
			m.pending = false
			held.add(-1)
		}
		if !failed[m.id] {
			continue
		}
		if m.receives >= src.cfg.MaxReceives {
			_, serr := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(src.dlqURL), MessageBody: aws.String(m.body),
				MessageAttributes: map[string]sqstypes.MessageAttributeValue{
					"ErrorMessage": {DataType: aws.String("String"), StringValue: aws.String("failed " + strconv.Itoa(m.receives) + " times")},
				}})
			log.Error("message sent to dead-letter queue", "queue", src.queue, "message_id", m.id, "dlq_err", serr)
			continue
		}
		m.due = at.Add(src.cfg.Visibility)
		src.mu.Lock()
		src.held = append(src.held, m)
		src.mu.Unlock()
	}
}

// pendingCount counts work in flight (bus deliveries and held bus
// messages) so a stack can tell when it has settled.
type pendingCount struct {
	mu sync.Mutex
	n  int
	// idle is closed while n is zero.
	idle chan struct{}
}

func newPendingCount() *pendingCount {
	idle := make(chan struct{})
	close(idle)
	return &pendingCount{idle: idle}
}

func (p *pendingCount) add(d int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.n
	p.n += d
	switch {
	case p.n < 0:
		panic("pending work below zero")
	case was == 0 && p.n > 0:
		p.idle = make(chan struct{})
	case was > 0 && p.n == 0:
		close(p.idle)
	}
}

// waitIdle waits up to limit for nothing to be pending.
func (p *pendingCount) waitIdle(limit time.Duration) bool {
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()
	t := time.NewTimer(max(limit, 0))
	defer t.Stop()
	select {
	case <-idle:
		return true
	default:
	}
	select {
	case <-idle:
		return true
	case <-t.C:
		return false
	}
}

func (p *pendingCount) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}
