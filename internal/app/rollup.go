package app

import (
	"context"
	"fmt"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/rollup"
	"github.com/ocxhq/ocx/internal/topology"
)

// EnvMetricAttributes names the interaction attributes that are customer
// dimensions of the metrics (comma-separated). The rollup and the API must
// agree on it; unset means DefaultMetricAttributes.
const EnvMetricAttributes = "OCX_METRIC_ATTRIBUTES"

// DefaultMetricAttributes are the customer dimensions when
// OCX_METRIC_ATTRIBUTES is unset.
const DefaultMetricAttributes = "plan,region"

func (d Deps) metricAttributes() ([]string, error) {
	v := d.Getenv(EnvMetricAttributes)
	if v == "" {
		v = DefaultMetricAttributes
	}
	attrs, err := metric.Attributes(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvMetricAttributes, err)
	}
	return attrs, nil
}

// RollupEvents builds the rollup function's one handler: it counts the
// bus events routed to it (interactions, journey and failure events) and,
// on the schedule's "Scheduled Event", rolls changed counters up.
func RollupEvents(ctx context.Context, d Deps) (EventHandler, error) {
	svc, tally, err := d.rollup()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ev lambdaevents.CloudWatchEvent) error {
		if ev.Source == "aws.events" && ev.DetailType == "Scheduled Event" {
			_, err := svc.Run(ctx)
			return err
		}
		return tally.Count(ctx, rollup.Envelope{ID: ev.ID, Source: ev.Source, DetailType: ev.DetailType, Detail: ev.Detail})
	}, nil
}

// Rollup builds the scheduled rollup alone, for a runner that invokes
// schedules without an event; bus events need RollupEvents.
func Rollup(ctx context.Context, d Deps) (ScheduledHandler, error) {
	svc, _, err := d.rollup()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		_, err := svc.Run(ctx)
		return err
	}, nil
}

func (d Deps) rollup() (*rollup.Service, *rollup.Tally, error) {
	metrics, err := d.table(topology.TableMetrics)
	if err != nil {
		return nil, nil, err
	}
	customers, err := d.table(topology.TableCustomers)
	if err != nil {
		return nil, nil, err
	}
	attrs, err := d.metricAttributes()
	if err != nil {
		return nil, nil, err
	}
	svc := &rollup.Service{Store: dynamo.NewMetrics(d.dynamo(), metrics), Log: d.Log}
	tally := &rollup.Tally{Store: dynamo.NewTally(d.dynamo(), metrics, customers), Attributes: attrs, Now: d.Now, Log: d.Log}
	return svc, tally, nil
}
