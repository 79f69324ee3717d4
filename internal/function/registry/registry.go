// Package registry names every function's builder, for what runs them all
// in one process: the local stack and ocx invoke. A Lambda binary links
// only its own function's package.
package registry

import (
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/function/api"
	"github.com/ocxhq/ocx/internal/function/ingest"
	"github.com/ocxhq/ocx/internal/function/journey"
	"github.com/ocxhq/ocx/internal/function/notify"
	"github.com/ocxhq/ocx/internal/function/outbound"
	"github.com/ocxhq/ocx/internal/function/rollup"
	"github.com/ocxhq/ocx/internal/function/rules"
	"github.com/ocxhq/ocx/internal/topology"
)

// Builders builds each function's Lambda handler by name.
var Builders = map[string]function.Builder{
	topology.Ingest:   ingest.Build,
	topology.API:      api.Build,
	topology.Journey:  journey.Build,
	topology.Rules:    rules.Build,
	topology.Notify:   notify.Build,
	topology.Rollup:   rollup.Build,
	topology.Outbound: outbound.Build,
}
