package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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

// provisionWakeups creates each function's wake-up queue and its
// dead-letter queue in the emulator, as the CDK app does, and returns
// the queues' URLs by function.
func provisionWakeups(ctx context.Context, client *sqs.Client) (queues, dlqs map[string]string, err error) {
	queues, dlqs = map[string]string{}, map[string]string{}
	for _, f := range topology.Functions {
		if !f.Wakeups {
			continue
		}
		for _, q := range []struct {
			name string
			into map[string]string
		}{{wakeupQueueName(f.Name) + "-dlq", dlqs}, {wakeupQueueName(f.Name), queues}} {
			out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.name)})
			if err != nil {
				return nil, nil, fmt.Errorf("create queue %s: %w", q.name, err)
			}
			q.into[f.Name] = aws.ToString(out.QueueUrl)
		}
	}
	return queues, dlqs, nil
}

// EventSources plays Lambda's SQS event source mapping for the functions'
// wake-up queues. It sees each message a function sends to its queue (a
// tap on the emulator, as the Router sees PutEvents), holds it for its
// DelaySeconds on the stack's clock — so a test that moves the clock
// sees it fire, and `make run` fires it on time — and then invokes the
// function with an SQS batch event through its Lambda handler. Messages
// the handler reports in batchItemFailures, or all of a batch whose
// invocation failed, come back after the queue's visibility timeout and,
// after topology.WakeupQueue.MaxReceives tries, go to the queue's
// dead-letter queue, as SQS's redrive policy does.
type EventSources struct {
	now     func() time.Time
	log     *slog.Logger
	sources map[string]*eventSource // by queue name
	wg      sync.WaitGroup
}

type eventSource struct {
	fn     *lambdaFunction
	queue  string // name
	dlqURL string
	mu     sync.Mutex
	held   []*heldMessage
	// deliver is held by whoever is delivering, so a drain waits for a
	// batch in flight.
	deliver sync.Mutex
	// delivered counts the messages handed to the function.
	delivered int
}

type heldMessage struct {
	id, body string
	sent     time.Time
	due      time.Time
	receives int
}

// poll is how often the stack's clock is looked at: a test may move it
// at any moment without saying so.
const poll = 20 * time.Millisecond

func newEventSources(now func() time.Time, log *slog.Logger) *EventSources {
	return &EventSources{now: now, log: log, sources: map[string]*eventSource{}}
}

// attach maps a function's wake-up queue (by URL) to it.
func (e *EventSources) attach(fn *lambdaFunction, queueURL, dlqURL string) {
	name := queueURL[strings.LastIndexByte(queueURL, '/')+1:]
	e.sources[name] = &eventSource{fn: fn, queue: name, dlqURL: dlqURL}
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
	src.mu.Lock()
	src.held = append(src.held, &heldMessage{id: out.MessageID, body: in.MessageBody, sent: now,
		due: now.Add(time.Duration(in.DelaySeconds) * time.Second)})
	src.mu.Unlock()
}

// run delivers due messages until ctx ends.
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
					src.deliverDue(ctx, client, e.now, e.log)
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
		src.deliverDue(ctx, client, e.now, e.log)
	}
}

// Delivered returns how many wake-ups each function was handed.
func (e *EventSources) Delivered() map[string]int {
	out := map[string]int{}
	for _, src := range e.sources {
		src.mu.Lock()
		out[src.fn.name] += src.delivered
		src.mu.Unlock()
	}
	return out
}

func (e *EventSources) wait() { e.wg.Wait() }

// take removes up to n messages due by now.
func (src *eventSource) take(now time.Time, n int) []*heldMessage {
	src.mu.Lock()
	defer src.mu.Unlock()
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
	return out
}

func (src *eventSource) deliverDue(ctx context.Context, client *sqs.Client, now func() time.Time, log *slog.Logger) {
	src.deliver.Lock()
	defer src.deliver.Unlock()
	for ctx.Err() == nil {
		batch := src.take(now(), topology.WakeupQueue.BatchSize)
		if len(batch) == 0 {
			return
		}
		src.invoke(ctx, client, batch, now(), log)
	}
}

// invoke hands one batch to the function and puts back what failed.
func (src *eventSource) invoke(ctx context.Context, client *sqs.Client, batch []*heldMessage, at time.Time, log *slog.Logger) {
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
		log.Warn("function error on a wake-up batch; it comes back after the visibility timeout", "function", src.fn.name, "err", err)
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
		if !failed[m.id] {
			continue
		}
		if m.receives >= topology.WakeupQueue.MaxReceives {
			_, serr := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(src.dlqURL), MessageBody: aws.String(m.body),
				MessageAttributes: map[string]sqstypes.MessageAttributeValue{
					"ErrorMessage": {DataType: aws.String("String"), StringValue: aws.String("failed " + strconv.Itoa(m.receives) + " times")},
				}})
			log.Error("wake-up sent to dead-letter queue", "queue", src.queue, "message_id", m.id, "dlq_err", serr)
			continue
		}
		m.due = at.Add(topology.WakeupQueue.Visibility)
		src.mu.Lock()
		src.held = append(src.held, m)
		src.mu.Unlock()
	}
}
