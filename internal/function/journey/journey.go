// Package journey wires the journey function: each interaction resolved to
// one customer and advanced through its journeys.
package journey

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/dynamo/journeystore"
	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/team"
	"github.com/ocxhq/ocx/internal/topology"
)

// EnvRetentionDays is how many days raw interactions (and ended journeys)
// are kept before DynamoDB's TTL drops them; aggregates stay.
const EnvRetentionDays = "OCX_RETENTION_DAYS"

// DefaultRetention is how long raw interactions are kept unless
// OCX_RETENTION_DAYS says otherwise.
const DefaultRetention = 400 * 24 * time.Hour

// Build is the journey function's Lambda handler: interactions in batches
// from its bus queue, each applied on its own.
var Build = function.Consuming(func(ctx context.Context, d function.Deps) (function.Consumer, error) {
	h, err := Handler(ctx, d)
	return function.Consumer{Batch: function.Each(h)}, err
})

// Handler builds the interaction handler.
func Handler(ctx context.Context, d function.Deps) (function.EventHandler, error) {
	customers, err := d.Table(topology.TableCustomers)
	if err != nil {
		return nil, err
	}
	metrics, err := d.Table(topology.TableMetrics)
	if err != nil {
		return nil, err
	}
	retention, err := retention(d)
	if err != nil {
		return nil, err
	}
	pub, err := bus.FromEnv(d.AWS, d.Getenv)
	if err != nil {
		return nil, err
	}
	catalog, err := Catalog(d.Config())
	if err != nil {
		return nil, err
	}
	guard, err := identity.LoadGuardrails(d.ConfigFS(), config.Identity)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(d.AWS)
	svc := &journey.Service{
		Store:     journeystore.NewCustomers(db, customers, metrics),
		Guard:     guard,
		Refusals:  journeystore.NewRefusals(db, customers),
		Metrics:   emf.New(os.Stdout),
		Journeys:  catalog,
		Bus:       pub,
		Retention: retention,
		Now:       d.Now,
		Log:       d.Log,
	}
	return func(ctx context.Context, env events.Envelope) error {
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

// Catalog loads and compiles the journey definitions of a tree.
func Catalog(t *config.Tree) (*journey.Catalog, error) {
	teams, err := team.Load(t.FS(), config.Teams)
	if err != nil {
		return nil, err
	}
	defs, err := journey.Load(t.FS(), config.Journeys, teams.IDs())
	if err != nil {
		return nil, err
	}
	return journey.NewCatalog(defs)
}

// retention reads OCX_RETENTION_DAYS, defaulting to DefaultRetention.
func retention(d function.Deps) (time.Duration, error) {
	v := d.Getenv(EnvRetentionDays)
	if v == "" {
		return DefaultRetention, nil
	}
	days, err := strconv.Atoi(v)
	if err != nil || days < 1 {
		return 0, fmt.Errorf("%s %q: want a whole number of days, at least 1", EnvRetentionDays, v)
	}
	return time.Duration(days) * 24 * time.Hour, nil
}
