package app

import (
	"context"
	"encoding/json"
	"fmt"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/topology"
)

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
