package app

import (
	"context"
	"net/http"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/internal/api"
	"github.com/ocxhq/ocx/internal/archive"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channelhealth"
	"github.com/ocxhq/ocx/internal/console"
	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/httpdeadline"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/silence"
	"github.com/ocxhq/ocx/internal/team"
	"github.com/ocxhq/ocx/internal/topology"
)

// EventHandler handles one EventBridge event.
type EventHandler func(ctx context.Context, ev lambdaevents.CloudWatchEvent) error

// ScheduledHandler runs on a schedule.
type ScheduledHandler func(ctx context.Context) error

// DefaultRetention is how long raw interactions are kept unless
// OCX_RETENTION_DAYS says otherwise.
const DefaultRetention = 400 * 24 * time.Hour

// Teams loads the team registry from configuration.
func (d Deps) Teams() (team.Registry, error) {
	return team.Load(d.ConfigFS(), "teams.yaml")
}

// API builds the analyst API.
func API(ctx context.Context, d Deps) (http.Handler, error) {
	metrics, err := d.table(topology.TableMetrics)
	if err != nil {
		return nil, err
	}
	guard, err := d.guard()
	if err != nil {
		return nil, err
	}
	attrs, err := d.metricAttributes()
	if err != nil {
		return nil, err
	}
	srv := &api.Server{Cubes: dynamo.NewMetrics(d.dynamo(), metrics), Attributes: attrs, Guard: guard, Now: d.Now, Log: d.Log}
	failures, err := d.table(topology.TableFailures)
	if err != nil {
		return nil, err
	}
	customers, err := d.customers()
	if err != nil {
		return nil, err
	}
	failureStore := dynamo.NewFailures(d.dynamo(), failures)
	slackActions, err := d.slackActions(failureStore, dynamo.NewNotifyGroups(d.dynamo(), failures))
	if err != nil {
		return nil, err
	}
	pub, err := d.publisher()
	if err != nil {
		return nil, err
	}
	failureSvc := &failure.Service{Store: failureStore, Notebook: failureStore, Now: d.Now,
		Announcer: &failure.Announcer{Outbox: failureStore, Bus: pub, Log: d.Log}}
	mux := http.NewServeMux()
	srv.Routes(mux)
	failure.Routes(mux, failureSvc, guard, d.Log)
	d.loopRoutes(mux, failures, failureSvc, guard)
	(&console.Handler{Files: console.Assets(), Config: d.consoleConfig()}).Routes(mux)
	customer.Routes(mux, customers, guard)
	identityTable, err := d.table(topology.TableCustomers)
	if err != nil {
		return nil, err
	}
	journey.RefusedRoutes(mux, dynamo.NewCustomers(d.dynamo(), identityTable, metrics), guard, d.Log)
	silence.Routes(mux, dynamo.NewSilences(d.dynamo(), failures), guard, d.Now, d.Log)
	mux.Handle("POST /v1/slack/actions", slackActions)
	if err := d.deadLetterRoutes(mux, guard); err != nil {
		return nil, err
	}
	health, err := d.channelHealth(failureStore)
	if err != nil {
		return nil, err
	}
	channelhealth.Routes(mux, health, guard)
	if err := d.outboundRoutes(mux, guard, pub); err != nil {
		return nil, err
	}
	srv.Ready = []api.Check{
		{Name: "metrics table", Probe: dynamo.Probe(d.dynamo(), metrics)},
		{Name: "failures table", Probe: dynamo.Probe(d.dynamo(), failures)},
	}
	return httpdeadline.Wrap(mux, httpdeadline.Within(functionTimeout(topology.API))), nil
}

// customers builds the customers service: reads over the customers and
// failures tables, erasure of raw payloads in the archive bucket.
func (d Deps) customers() (*customer.Service, error) {
	v, err := d.require(topology.EnvArchiveBucket)
	if err != nil {
		return nil, err
	}
	customers, err := d.table(topology.TableCustomers)
	if err != nil {
		return nil, err
	}
	metrics, err := d.table(topology.TableMetrics)
	if err != nil {
		return nil, err
	}
	failures, err := d.table(topology.TableFailures)
	if err != nil {
		return nil, err
	}
	fl := dynamo.NewCustomerFailures(d.dynamo(), failures)
	fl.Now = d.Now
	return &customer.Service{
		Store:    dynamo.NewCustomers(d.dynamo(), customers, metrics),
		Failures: fl,
		Archive:  archive.New(d.s3(), v[topology.EnvArchiveBucket]),
		Bucket:   v[topology.EnvArchiveBucket],
		Now:      d.Now,
		Log:      d.Log,
	}, nil
}

// channelHealth builds the channel health view: the configured channels,
// their tallies in the intake table and the current failures.
func (d Deps) channelHealth(failures channelhealth.Failures) (*channelhealth.Service, error) {
	intake, err := d.table(topology.TableIntake)
	if err != nil {
		return nil, err
	}
	list, err := channel.Load(d.ConfigFS(), "channels.yaml")
	if err != nil {
		return nil, err
	}
	chans := make([]channelhealth.Channel, len(list))
	for i, c := range list {
		chans[i] = channelhealth.Channel{ID: c.ID, Kind: c.Config.Kind}
	}
	return &channelhealth.Service{Channels: chans, Tallies: dynamo.NewIntakeTallies(d.dynamo(), intake), Failures: failures, Now: d.Now, Log: d.Log}, nil
}
