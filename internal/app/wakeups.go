package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/internal/topology"
	"github.com/ocxhq/ocx/internal/wakequeue"
	"github.com/ocxhq/ocx/internal/wakeup"
)

// QueueHandler is what a function consuming an SQS queue through an event
// source mapping with ReportBatchItemFailures gets: a batch in, the ids of
// the messages to deliver again out.
type QueueHandler = func(context.Context, lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error)

// Wakeable is a function invoked by EventBridge (bus events, its sweep
// schedule) and by its wake-up queue's event source mapping.
type Wakeable struct {
	Events EventHandler
	Wake   QueueHandler
}

// wakeableFunction hands Lambda one handler for both shapes: an SQS batch
// (Records from aws:sqs) goes to Wake, anything else is an EventBridge
// envelope for Events.
func wakeableFunction(b Builder[Wakeable]) Builder[Handler] {
	return func(ctx context.Context, d Deps) (Handler, error) {
		w, err := b(ctx, d)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, raw json.RawMessage) (any, error) {
			var probe struct {
				Records []struct {
					EventSource string `json:"eventSource"`
				} `json:"Records"`
			}
			if err := json.Unmarshal(raw, &probe); err == nil && len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs" {
				var batch lambdaevents.SQSEvent
				if err := json.Unmarshal(raw, &batch); err != nil {
					return nil, fmt.Errorf("decode SQS batch: %w", err)
				}
				return w.Wake(ctx, batch)
			}
			var env lambdaevents.CloudWatchEvent
			if err := json.Unmarshal(raw, &env); err != nil {
				return nil, fmt.Errorf("decode EventBridge event: %w", err)
			}
			return nil, w.Events(ctx, env)
		}, nil
	}
}

// wakeups is the function's wake-up queue (topology.EnvWakeupQueue).
func (d Deps) wakeups() (*wakequeue.Queue, error) {
	v, err := d.require(topology.EnvWakeupQueue)
	if err != nil {
		return nil, err
	}
	return wakequeue.New(sqs.NewFromConfig(d.AWS), v[topology.EnvWakeupQueue], d.Now), nil
}

// wakeBatch handles a batch of wake-ups: each due one goes to wake, one
// still ahead is sent on for the rest of its wait. A message that fails is
// reported for redelivery on its own; an unreadable one is dropped with a
// log line, as redelivering it cannot help.
func wakeBatch(s wakeup.Scheduler, now func() time.Time, wake wakeup.Func, log *slog.Logger) QueueHandler {
	return func(ctx context.Context, batch lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
		var out lambdaevents.SQSEventResponse
		for _, m := range batch.Records {
			w, err := wakeup.Decode(m.Body)
			if err != nil {
				log.Error("unreadable wake-up dropped", "message_id", m.MessageId, "err", err)
				continue
			}
			if err := wakeup.Deliver(ctx, w, now(), s, wake); err != nil {
				log.Error("wake-up failed; it will be delivered again", "message_id", m.MessageId, "key", w.Key, "at", w.At, "err", err)
				out.BatchItemFailures = append(out.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		}
		return out, nil
	}
}
