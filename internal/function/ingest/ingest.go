// Package ingest wires the ingest function: signed webhooks in through API
// Gateway, verified, deduplicated, archived and published on the bus.
package ingest

import (
	"context"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/channel"
	_ "github.com/ocxhq/ocx/internal/channel/kinds" // every channel kind channels.yaml may name
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/dynamo/intakestore"
	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/httpdeadline"
	intake "github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/rawstream"
	"github.com/ocxhq/ocx/internal/secrets"
	"github.com/ocxhq/ocx/internal/topology"
)

// Build is the ingest function's Lambda handler.
var Build = function.HTTP(Handler)

// Handler builds the webhook handler.
func Handler(ctx context.Context, d function.Deps) (http.Handler, error) {
	table, err := d.Table(topology.TableIntake)
	if err != nil {
		return nil, err
	}
	arch, err := rawstream.FromEnv(d.AWS, d.Getenv)
	if err != nil {
		return nil, err
	}
	pub, err := bus.FromEnv(d.AWS, d.Getenv)
	if err != nil {
		return nil, err
	}
	list, err := channel.Load(d.ConfigFS(), config.Channels)
	if err != nil {
		return nil, err
	}
	chans := map[string]channel.Channel{}
	for _, c := range list {
		chans[c.ID] = c
	}
	guard, err := d.Guard()
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(d.AWS)
	quarantine := intakestore.NewQuarantine(db, table)
	svc := &intake.Service{
		Channels:      chans,
		Secrets:       secrets.FromEnv(d.AWS, d.Getenv),
		Ledger:        intakestore.NewLedger(db, table),
		Raw:           arch,
		Archive:       arch,
		Quarantine:    quarantine,
		Bus:           pub,
		Metrics:       emf.New(os.Stdout),
		Now:           d.Now,
		Log:           d.Log,
		PublicBaseURL: d.Getenv(function.EnvPublicBaseURL),
		Tally:         intake.NewTally(pub, intakestore.NewTallies(db, table), d.Log),
	}
	replayer := &intake.Replayer{Channels: chans, Archive: arch, Quarantine: quarantine, Bus: pub, Now: d.Now}
	mux := http.NewServeMux()
	intake.Routes(mux, svc, replayer, guard)
	// A backstop behind ingest's own deadline, for the bad-row routes.
	return httpdeadline.Wrap(mux, httpdeadline.Within(function.Timeout(topology.Ingest))), nil
}
