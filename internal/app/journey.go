package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/topology"
)

// EnvRetentionDays is how many days raw interactions (and ended journeys)
// are kept before DynamoDB's TTL drops them; aggregates stay.
const EnvRetentionDays = "OCX_RETENTION_DAYS"

// JourneysDir is where journey definitions live in the configuration tree.
const JourneysDir = "journeys"

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
	retention, err := d.retention()
	if err != nil {
		return nil, err
	}
	pub, err := d.publisher()
	if err != nil {
		return nil, err
	}
	catalog, err := d.Journeys()
	if err != nil {
		return nil, err
	}
	guard, err := identity.LoadGuardrails(d.ConfigFS(), identity.GuardrailsFile)
	if err != nil {
		return nil, err
	}
	store := dynamo.NewCustomers(d.dynamo(), customers, metrics)
	svc := &journey.Service{
		Store:     store,
		Guard:     guard,
		Refusals:  store,
		Metrics:   emf.New(os.Stdout),
		Journeys:  catalog,
		Bus:       pub,
		Retention: retention,
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

// Journeys loads and compiles the journey definitions from configuration.
func (d Deps) Journeys() (*journey.Catalog, error) {
	teams, err := d.Teams()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, t := range teams.All() {
		ids = append(ids, t.ID)
	}
	defs, err := journey.Load(d.ConfigFS(), JourneysDir, ids)
	if err != nil {
		return nil, err
	}
	return journey.NewCatalog(defs)
}

// retention reads OCX_RETENTION_DAYS, defaulting to DefaultRetention.
func (d Deps) retention() (time.Duration, error) {
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
