// Package rollup wires the rollup function: bus events counted into
// metric counters, rolled up into series on the schedule's tick.
package rollup

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dynamo/metricstore"
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/rollup"
	"github.com/ocxhq/ocx/internal/topology"
)

// Build is the rollup function's Lambda handler.
var Build = function.Events(Handler)

// Handler counts the bus events routed to the function (interactions,
// journey and failure events) and, on the schedule's tick, rolls changed
// counters up.
func Handler(ctx context.Context, d function.Deps) (function.EventHandler, error) {
	metrics, err := d.Table(topology.TableMetrics)
	if err != nil {
		return nil, err
	}
	customers, err := d.Table(topology.TableCustomers)
	if err != nil {
		return nil, err
	}
	attrs, err := metric.Attributes(d.Setting(topology.EnvMetricAttributes, metric.DefaultAttributes))
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(d.AWS)
	svc := &rollup.Service{Store: metricstore.NewMetrics(db, metrics), Log: d.Log}
	tally := &rollup.Tally{Store: metricstore.NewTally(db, metrics, customers), Attributes: attrs, Now: d.Now, Log: d.Log}
	return func(ctx context.Context, env events.Envelope) error {
		if env.IsTick() {
			_, err := svc.Run(ctx)
			return err
		}
		return tally.Count(ctx, env)
	}, nil
}
