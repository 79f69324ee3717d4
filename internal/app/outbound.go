package app

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/queue"
	"github.com/ocxhq/ocx/internal/topology"
	"github.com/ocxhq/ocx/internal/wakeup"
)

// Outbound builds the outbound webhook function: bus events matching a
// subscription become deliveries, tried at once; retries come back as
// wake-ups from its queue, and the outbound-sweep schedule's "Scheduled
// Event" tries those whose wake-up was lost; what is finally given up goes
// to its failures queue.
func Outbound(ctx context.Context, d Deps) (Wakeable, error) {
	var none Wakeable
	table, err := d.table(topology.TableOutbound)
	if err != nil {
		return none, err
	}
	v, err := d.require(topology.EnvDeadLetterQueue)
	if err != nil {
		return none, err
	}
	wakeups, err := d.wakeups()
	if err != nil {
		return none, err
	}
	subs, err := outbound.Load(d.ConfigFS(), outbound.File, d.Getenv)
	if err != nil {
		return none, err
	}
	db := d.dynamo()
	svc := &outbound.Service{
		Subscriptions: subs,
		Deliveries:    dynamo.NewOutboundDeliveries(db, table),
		Endpoints:     dynamo.NewOutboundEndpoints(db, table),
		Secrets:       d.secrets(),
		Client:        outbound.NewClient(),
		Wakeups:       wakeups,
		Dead:          queue.New(sqs.NewFromConfig(d.AWS), v[topology.EnvDeadLetterQueue]),
		Metrics:       emf.New(os.Stdout),
		Now:           d.Now,
		Log:           d.Log,
	}
	return Wakeable{Events: svc.Handle, Wake: wakeBatchSideBySide(wakeups, d.Now, svc.Wake, d.Log.With("component", "wakeups"))}, nil
}

// wakeBatchSideBySide is wakeBatch with the batch's wake-ups handled at
// once: each may wait on a slow endpoint for the client's whole timeout.
func wakeBatchSideBySide(s wakeup.Scheduler, now func() time.Time, wake wakeup.Func, log *slog.Logger) QueueHandler {
	one := wakeBatch(s, now, wake, log)
	return func(ctx context.Context, batch lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
		var (
			mu  sync.Mutex
			wg  sync.WaitGroup
			out lambdaevents.SQSEventResponse
		)
		for _, m := range batch.Records {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, _ := one(ctx, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{m}})
				mu.Lock()
				out.BatchItemFailures = append(out.BatchItemFailures, r.BatchItemFailures...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return out, nil
	}
}

// outboundRoutes mounts the outbound webhooks' API: endpoints, deliveries
// and their attempts, enabling and replay.
func (d Deps) outboundRoutes(mux *http.ServeMux, guard httpauth.Guard, pub bus.Publisher) error {
	table, err := d.table(topology.TableOutbound)
	if err != nil {
		return err
	}
	subs, err := outbound.Load(d.ConfigFS(), outbound.File, d.Getenv)
	if err != nil {
		return err
	}
	db := d.dynamo()
	outbound.Routes(mux, &outbound.Admin{
		Subscriptions: subs,
		Deliveries:    dynamo.NewOutboundDeliveries(db, table),
		Endpoints:     dynamo.NewOutboundEndpoints(db, table),
		Commands:      outboundCommands{pub: pub, now: d.Now},
		Now:           d.Now,
		Log:           d.Log,
	}, guard)
	return nil
}

// outboundCommands hands the API's replay requests to the outbound
// function over the bus.
type outboundCommands struct {
	pub bus.Publisher
	now func() time.Time
}

func (c outboundCommands) Replay(ctx context.Context, cmd outbound.ReplayCommand) error {
	return c.pub.Publish(ctx, bus.Event{Source: events.SourceOutbound, DetailType: outbound.TypeReplay, Detail: cmd, Time: c.now()})
}
