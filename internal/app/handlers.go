package app

import (
	"context"
	"net/http"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/internal/api"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/rollup"
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

// Rollup builds the scheduled rollup.
func Rollup(ctx context.Context, d Deps) (ScheduledHandler, error) {
	metrics, err := d.table(topology.TableMetrics)
	if err != nil {
		return nil, err
	}
	svc := &rollup.Service{Store: dynamo.NewMetrics(d.dynamo(), metrics), Log: d.Log}
	return func(ctx context.Context) error {
		_, err := svc.Run(ctx)
		return err
	}, nil
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
	srv := &api.Server{Series: dynamo.NewMetrics(d.dynamo(), metrics), Guard: guard, Now: d.Now, Log: d.Log}
	mux := http.NewServeMux()
	srv.Routes(mux)
	return mux, nil
}
