package function

import (
	"context"
	"log/slog"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/internal/wakeup"
)

// WakeBatch handles a batch of wake-ups: each due one goes to wake, one
// still ahead is sent on for the rest of its wait. A message that fails is
// reported for redelivery on its own; an unreadable one is dropped with a
// log line, as redelivering it cannot help.
func WakeBatch(s wakeup.Scheduler, now func() time.Time, wake wakeup.Func, log *slog.Logger) QueueHandler {
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
