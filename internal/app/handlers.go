package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/api"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/rollup"
	"github.com/ocxhq/ocx/internal/rules"
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

// Journey builds the interaction handler.
func Journey(ctx context.Context, d Deps) (EventHandler, error) {
	customers, err := d.table(topology.TableCustomers)
	if err != nil {
		return nil, err
	}
	metrics, err := d.table(topology.TableMetrics)
	if err != nil {
		return nil, err
	}
	svc := &journey.Service{
		Store:     dynamo.NewCustomers(d.dynamo(), customers, metrics),
		Retention: DefaultRetention,
		Now:       d.Now,
		Log:       d.Log,
	}
	return func(ctx context.Context, env lambdaevents.CloudWatchEvent) error {
		if env.Source != events.SourceIngest {
			return nil
		}
		var in events.Interaction
		if err := json.Unmarshal(env.Detail, &in); err != nil {
			// A malformed event will never parse; retrying cannot help.
			d.Log.Error("undecodable interaction dropped to the DLQ path", "envelope_id", env.ID, "err", err)
			return fmt.Errorf("decode interaction %s: %w", env.ID, err)
		}
		return svc.Apply(ctx, in)
	}, nil
}

// Teams loads the team registry from configuration.
func (d Deps) Teams() (team.Registry, error) {
	return team.Load(d.ConfigFS(), "teams.yaml")
}

// Rules builds the failure-rule handler.
func Rules(ctx context.Context, d Deps) (EventHandler, error) {
	failures, err := d.table(topology.TableFailures)
	if err != nil {
		return nil, err
	}
	pub, err := d.publisher()
	if err != nil {
		return nil, err
	}
	teams, err := d.Teams()
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(teams.All()))
	for _, t := range teams.All() {
		ids = append(ids, t.ID)
	}
	rs, err := rules.Load(d.ConfigFS(), "rules", ids)
	if err != nil {
		return nil, err
	}
	eng, err := rules.NewEngine(rs)
	if err != nil {
		return nil, err
	}
	svc := &rules.Service{Engine: eng, Store: dynamo.NewFailures(d.dynamo(), failures), Bus: pub, Now: d.Now, Log: d.Log}
	return svc.Handle, nil
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
