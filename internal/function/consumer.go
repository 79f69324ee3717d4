package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/topology"
)

// BatchHandler handles the bus events of one batch, in the queue's order,
// and returns one error per envelope: nil for each it handled. Only the
// envelopes that failed are delivered again.
type BatchHandler = func(ctx context.Context, envs []events.Envelope) []error

// Each handles a batch one envelope at a time: one that fails does not stop
// its neighbours.
func Each(h EventHandler) BatchHandler {
	return func(ctx context.Context, envs []events.Envelope) []error {
		errs := make([]error, len(envs))
		for i, env := range envs {
			errs[i] = h(ctx, env)
		}
		return errs
	}
}

// Consumer is a function that takes its bus events from its bus queue
// (topology.Function.Bus: an EventBridge rule delivers them to an SQS queue
// and an event source mapping hands them over in batches), its schedule's
// ticks directly from EventBridge, and, with Wake set, its wake-ups.
type Consumer struct {
	Batch BatchHandler
	// Tick handles the schedule's tick; nil for a function with none.
	Tick EventHandler
	// Wake handles batches from the wake-up queue; nil for a function
	// without one.
	Wake QueueHandler
}

// Consuming hands Lambda one handler for every shape a Consumer is sent:
// an SQS batch from the wake-up queue goes to Wake; one from the bus queue
// is decoded (each body is the EventBridge envelope the rule delivered)
// and handed to Batch, and the messages that failed or could not be read
// are reported in batchItemFailures — tried again alone after the queue's
// visibility timeout, then parked on its dead-letter queue; an envelope
// invoked directly is the schedule's tick, or else a batch of one.
func Consuming(b func(context.Context, Deps) (Consumer, error)) Builder {
	return func(ctx context.Context, d Deps) (Handler, error) {
		c, err := b(ctx, d)
		if err != nil {
			return nil, err
		}
		log := d.Log
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		return func(ctx context.Context, raw json.RawMessage) (any, error) {
			var probe struct {
				Records []struct {
					EventSource    string `json:"eventSource"`
					EventSourceARN string `json:"eventSourceARN"`
				} `json:"Records"`
			}
			if err := json.Unmarshal(raw, &probe); err == nil && len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs" {
				var batch lambdaevents.SQSEvent
				if err := json.Unmarshal(raw, &batch); err != nil {
					return nil, fmt.Errorf("decode SQS batch: %w", err)
				}
				if fromWakeupQueue(probe.Records[0].EventSourceARN) {
					if c.Wake == nil {
						return nil, errors.New("a wake-up batch reached a function without wake-ups")
					}
					return c.Wake(ctx, batch)
				}
				return c.busBatch(ctx, batch, log), nil
			}
			var env events.Envelope
			if err := json.Unmarshal(raw, &env); err != nil {
				return nil, fmt.Errorf("decode EventBridge event: %w", err)
			}
			if env.IsTick() && c.Tick != nil {
				return nil, c.Tick(ctx, env)
			}
			return nil, c.Batch(ctx, []events.Envelope{env})[0]
		}, nil
	}
}

// fromWakeupQueue says whether a queue ARN names a wake-up queue
// (topology.WakeupQueueName) rather than a bus queue.
func fromWakeupQueue(arn string) bool {
	return strings.HasSuffix(arn, topology.WakeupQueueName(""))
}

func (c Consumer) busBatch(ctx context.Context, batch lambdaevents.SQSEvent, log *slog.Logger) lambdaevents.SQSEventResponse {
	var out lambdaevents.SQSEventResponse
	fail := func(id string) {
		out.BatchItemFailures = append(out.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: id})
	}
	envs := make([]events.Envelope, 0, len(batch.Records))
	ids := make([]string, 0, len(batch.Records))
	for _, m := range batch.Records {
		var env events.Envelope
		if err := json.Unmarshal([]byte(m.Body), &env); err != nil || env.ID == "" {
			// Never readable, but kept: it fails until the queue parks it
			// on the dead-letter queue, where it can be looked at.
			log.Error("unreadable bus message; it goes to the dead-letter queue after its tries", "message_id", m.MessageId, "err", err)
			fail(m.MessageId)
			continue
		}
		envs = append(envs, env)
		ids = append(ids, m.MessageId)
	}
	if len(envs) == 0 {
		return out
	}
	errs := c.Batch(ctx, envs)
	if len(errs) != len(envs) {
		// A handler that does not say which failed: deliver all again.
		log.Error("batch handler answered for the wrong number of events", "events", len(envs), "answers", len(errs))
		errs = make([]error, len(envs))
		for i := range errs {
			errs[i] = errors.New("no answer for this event")
		}
	}
	for i, err := range errs {
		if err != nil {
			log.Warn("bus event failed; it is delivered again", "message_id", ids[i], "envelope_id", envs[i].ID,
				"detail_type", envs[i].DetailType, "err", err)
			fail(ids[i])
		}
	}
	return out
}
