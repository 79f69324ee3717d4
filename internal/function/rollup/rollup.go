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
var Build = function.Consuming(Handler)

// Handler counts the bus events its queue hands over in batches
// (interactions, journey and failure events; each counter written once per
// batch) and, on the schedule's tick, rolls changed counters up.
func Handler(ctx context.Context, d function.Deps) (function.Consumer, error) {
	metrics, err := d.Table(topology.TableMetrics)
	if err != nil {
		return function.Consumer{}, err
	}
	customers, err := d.Table(topology.TableCustomers)
	if err != nil {
		return function.Consumer{}, err
	}
	attrs, err := metric.Attributes(d.Setting(topology.EnvMetricAttributes, metric.DefaultAttributes))
	if err != nil {
		return function.Consumer{}, err
	}
	db := dynamodb.NewFromConfig(d.AWS)
	svc := &rollup.Service{Store: metricstore.NewMetrics(db, metrics), Log: d.Log}
	tally := &rollup.Tally{Store: metricstore.NewTally(db, metrics, customers), Attributes: attrs, Now: d.Now, Log: d.Log}
	return function.Consumer{
		Batch: tally.CountBatch,
		Tick: func(ctx context.Context, _ events.Envelope) error {
			_, err := svc.Run(ctx)
			return err
		},
	}, nil
}
