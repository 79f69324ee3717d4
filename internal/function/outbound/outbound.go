// Package outbound wires the outbound function: OCX's own events signed
// and delivered to subscribed endpoints, retried from its wake-up queue.
package outbound

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/dynamo/outboundstore"
	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/function"
	webhooks "github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/queue"
	"github.com/ocxhq/ocx/internal/secrets"
	"github.com/ocxhq/ocx/internal/topology"
	"github.com/ocxhq/ocx/internal/wakequeue"
	"github.com/ocxhq/ocx/internal/wakeup"
)

// Build is the outbound function's Lambda handler.
var Build = function.WithWakeups(Handler)

// Handler builds the outbound webhook handler: bus events matching a
// subscription become deliveries, tried at once; retries come back as
// wake-ups from its queue, and the outbound-sweep schedule's tick tries
// those whose wake-up was lost; what is finally given up goes to its
// failures queue.
func Handler(ctx context.Context, d function.Deps) (function.Wakeable, error) {
	var none function.Wakeable
	table, err := d.Table(topology.TableOutbound)
	if err != nil {
		return none, err
	}
	v, err := d.Require(topology.EnvDeadLetterQueue)
	if err != nil {
		return none, err
	}
	wakeups, err := wakequeue.FromEnv(d.AWS, d.Getenv, d.Now)
	if err != nil {
		return none, err
	}
	subs, err := webhooks.Load(d.ConfigFS(), config.Outbound, d.Getenv)
	if err != nil {
		return none, err
	}
	db := dynamodb.NewFromConfig(d.AWS)
	svc := &webhooks.Service{
		Subscriptions: subs,
		Deliveries:    outboundstore.NewDeliveries(db, table),
		Endpoints:     outboundstore.NewEndpoints(db, table),
		Secrets:       secrets.FromEnv(d.AWS, d.Getenv),
		Client:        webhooks.NewClient(),
		Wakeups:       wakeups,
		Dead:          queue.New(sqs.NewFromConfig(d.AWS), v[topology.EnvDeadLetterQueue]),
		Metrics:       emf.New(os.Stdout),
		Now:           d.Now,
		Log:           d.Log,
	}
	return function.Wakeable{Events: svc.Handle, Wake: sideBySide(wakeups, d.Now, svc.Wake, d.Log.With("component", "wakeups"))}, nil
}

// sideBySide is function.WakeBatch with the batch's wake-ups handled at
// once: each may wait on a slow endpoint for the client's whole timeout.
func sideBySide(s wakeup.Scheduler, now func() time.Time, wake wakeup.Func, log *slog.Logger) function.QueueHandler {
	one := function.WakeBatch(s, now, wake, log)
	return func(ctx context.Context, batch lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
		var (
			mu  sync.Mutex
			wg  sync.WaitGroup
			out lambdaevents.SQSEventResponse
		)
		for _, m := range batch.Records {
			wg.Go(func() {
				r, _ := one(ctx, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{m}})
				mu.Lock()
				out.BatchItemFailures = append(out.BatchItemFailures, r.BatchItemFailures...)
				mu.Unlock()
			})
		}
		wg.Wait()
		return out, nil
	}
}
