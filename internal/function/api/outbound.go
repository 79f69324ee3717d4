package api

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/dynamo/outboundstore"
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/topology"
)

// outboundRoutes mounts the outbound webhooks' API: endpoints, deliveries
// and their attempts, enabling and replay.
func outboundRoutes(d function.Deps, db *dynamodb.Client, mux *http.ServeMux, guard httpauth.Guard, pub events.Publisher) error {
	table, err := d.Table(topology.TableOutbound)
	if err != nil {
		return err
	}
	subs, err := outbound.Load(d.ConfigFS(), config.Outbound, d.Getenv)
	if err != nil {
		return err
	}
	outbound.Routes(mux, &outbound.Admin{
		Subscriptions: subs,
		Deliveries:    outboundstore.NewDeliveries(db, table),
		Endpoints:     outboundstore.NewEndpoints(db, table),
		Commands:      outboundCommands{pub: pub, now: d.Now},
		Now:           d.Now,
		Log:           d.Log,
	}, guard)
	return nil
}

// outboundCommands hands the API's replay requests to the outbound
// function over the bus.
type outboundCommands struct {
	pub events.Publisher
	now func() time.Time
}

func (c outboundCommands) Replay(ctx context.Context, cmd outbound.ReplayCommand) error {
	return c.pub.Publish(ctx, events.Event{Source: events.SourceOutbound, DetailType: outbound.TypeReplay, Detail: cmd, Time: c.now()})
}
