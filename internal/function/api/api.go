// Package api wires the api function: analysts' queries, the console,
// operators' routes and Slack's acknowledge and resolve actions.
package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/internal/api"
	"github.com/ocxhq/ocx/internal/archive"
	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channelhealth"
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/console"
	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/deadletter"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/dynamo/customerstore"
	"github.com/ocxhq/ocx/internal/dynamo/failurestore"
	"github.com/ocxhq/ocx/internal/dynamo/healthstore"
	"github.com/ocxhq/ocx/internal/dynamo/journeystore"
	"github.com/ocxhq/ocx/internal/dynamo/loopstore"
	"github.com/ocxhq/ocx/internal/dynamo/metricstore"
	"github.com/ocxhq/ocx/internal/dynamo/notifystore"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/httpdeadline"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/loop"
	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/queue/deadletters"
	"github.com/ocxhq/ocx/internal/secrets"
	"github.com/ocxhq/ocx/internal/silence"
	"github.com/ocxhq/ocx/internal/slackaction"
	"github.com/ocxhq/ocx/internal/topology"
)

// The stores other functions own that the API also serves from.
var (
	_ channelhealth.Failures = (*failurestore.Failures)(nil)
	_ slackaction.Groups     = (*notifystore.NotifyGroups)(nil)
)

// Build is the api function's Lambda handler.
var Build = function.HTTP(Handler)

// Handler builds the analyst API.
func Handler(ctx context.Context, d function.Deps) (http.Handler, error) {
	tables, err := tablesOf(d, topology.TableMetrics, topology.TableFailures, topology.TableCustomers, topology.TableIntake)
	if err != nil {
		return nil, err
	}
	metrics, failures, customers, intake := tables[0], tables[1], tables[2], tables[3]
	guard, err := d.Guard()
	if err != nil {
		return nil, err
	}
	attrs, err := metric.Attributes(d.Setting(topology.EnvMetricAttributes, metric.DefaultAttributes))
	if err != nil {
		return nil, err
	}
	pub, err := bus.FromEnv(d.AWS, d.Getenv)
	if err != nil {
		return nil, err
	}
	arch, err := archive.FromEnv(d.AWS, d.Getenv)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(d.AWS)
	failureStore := failurestore.NewFailures(db, failures)
	announcer := &failure.Announcer{Outbox: failurestore.NewOutbox(db, failures), Bus: pub, Log: d.Log}
	failureSvc := &failure.Service{Store: failureStore, Notebook: failurestore.NewNotebook(db, failures), Now: d.Now, Announcer: announcer}
	loops := &loop.Service{Store: loopstore.NewLoops(db, failures), Notes: failureNotes{failureSvc},
		Bus: pub, Now: d.Now, Log: d.Log.With("component", "loop")}
	customerFailures := customerstore.NewCustomerFailures(db, failures)
	customerFailures.Now = d.Now
	customerSvc := &customer.Service{
		Store:    customerstore.New(db, customers),
		Failures: customerFailures,
		Archive:  arch,
		Now:      d.Now,
		Log:      d.Log,
	}
	store := secrets.FromEnv(d.AWS, d.Getenv)
	slackActions := &slackaction.Handler{
		Secrets: func(ctx context.Context) ([]string, error) {
			return store.List(ctx, topology.SecretSlackSigning)
		},
		Groups:   loopGroups{notifystore.NewNotifyGroups(db, failures)},
		Failures: &failure.Service{Store: failureStore, Announcer: announcer, Now: d.Now},
		Contacts: loopContacts{loops},
		// The budget bounds the whole press; this only stops a stuck
		// connection from holding a request past it.
		Client: &http.Client{Timeout: slackaction.DefaultBudget},
		Now:    d.Now,
		Log:    d.Log.With("component", "slackaction"),
	}
	list, err := channel.List(d.ConfigFS(), config.Channels)
	if err != nil {
		return nil, err
	}
	chans := make([]channelhealth.Channel, len(list))
	for i, c := range list {
		chans[i] = channelhealth.Channel{ID: c.ID, Kind: c.Kind}
	}
	health := &channelhealth.Service{Channels: chans, Tallies: healthstore.NewTallies(db, intake), Failures: failureStore, Now: d.Now, Log: d.Log}

	srv := &api.Server{Cubes: metricstore.NewMetrics(db, metrics), Attributes: attrs, Guard: guard, Now: d.Now, Log: d.Log}
	srv.Ready = []api.Check{
		{Name: "metrics table", Probe: dynamo.Probe(db, metrics)},
		{Name: "failures table", Probe: dynamo.Probe(db, failures)},
	}
	mux := http.NewServeMux()
	srv.Routes(mux)
	failure.Routes(mux, failureSvc, guard, d.Log)
	loop.Routes(mux, loops, guard, d.Log)
	(&console.Handler{Files: console.Assets(), Config: consoleConfig(d)}).Routes(mux)
	customer.Routes(mux, customerSvc, guard)
	journey.RefusedRoutes(mux, journeystore.NewRefusals(db, customers), guard, d.Log)
	silence.Routes(mux, notifystore.NewSilences(db, failures), guard, d.Now, d.Log)
	mux.Handle("POST /v1/slack/actions", slackActions)
	deadletter.Routes(mux, deadletters.NewDeadLetters(sqs.NewFromConfig(d.AWS), deadLetterQueues(d)), pub, guard, d.Log)
	channelhealth.Routes(mux, health, guard)
	if err := outboundRoutes(d, db, mux, guard, pub); err != nil {
		return nil, err
	}
	return httpdeadline.Wrap(mux, httpdeadline.Within(function.Timeout(topology.API))), nil
}

func tablesOf(d function.Deps, logical ...string) ([]string, error) {
	out := make([]string, len(logical))
	for i, l := range logical {
		t, err := d.Table(l)
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// deadLetterQueues are the queues OCX_DEAD_LETTER_QUEUES names, which
// GET /v1/deadletters lists and POST /v1/deadletters/redrive drains.
func deadLetterQueues(d function.Deps) []string {
	var names []string
	for _, q := range strings.Split(d.Getenv(topology.EnvDeadLetterQueues), ",") {
		if q = strings.TrimSpace(q); q != "" {
			names = append(names, q)
		}
	}
	return names
}
