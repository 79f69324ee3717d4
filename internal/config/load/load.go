// Package load loads and validates a whole configuration tree at once, as
// the functions will each load their part of it: ocx check, the local
// stack, the demo and the CDK app start from here, so a tree that passes
// here starts every function.
package load

import (
	"fmt"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/dispatch"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/team"
)

// Config is a whole, validated configuration tree.
type Config struct {
	Tree       *config.Tree
	Channels   []channel.Channel
	Teams      team.Registry
	Rules      []rules.Rule
	Journeys   []journey.Definition
	Routes     dispatch.Config
	Guardrails *identity.Guardrails
	Outbound   []outbound.Subscription
}

// All loads every part of the tree and checks what spans parts (teams
// named by rules, journeys and routes; patterns that compile). Channel
// kinds must be registered by the caller (package channel/kinds); getenv
// fills the outbound subscriptions' ${VAR} references.
func All(t *config.Tree, getenv func(string) string) (*Config, error) {
	c := &Config{Tree: t}
	var err error
	fsys := t.FS()
	if c.Channels, err = channel.Load(fsys, config.Channels); err != nil {
		return nil, err
	}
	if c.Teams, err = team.Load(fsys, config.Teams); err != nil {
		return nil, err
	}
	ids := c.Teams.IDs()
	if c.Rules, err = rules.Load(fsys, config.Rules, ids); err != nil {
		return nil, err
	}
	if _, err := rules.NewEngine(c.Rules); err != nil {
		return nil, err
	}
	if c.Journeys, err = journey.Load(fsys, config.Journeys, ids); err != nil {
		return nil, err
	}
	if _, err := journey.NewCatalog(c.Journeys); err != nil {
		return nil, err
	}
	if c.Routes, err = dispatch.Load(fsys, config.Routes, ids); err != nil {
		return nil, err
	}
	if c.Guardrails, err = identity.LoadGuardrails(fsys, config.Identity); err != nil {
		return nil, err
	}
	if c.Outbound, err = outbound.Load(fsys, config.Outbound, getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// Summary is one line of counts, as ocx check prints it.
func (c *Config) Summary() string {
	never, limits := c.Guardrails.Counts()
	return fmt.Sprintf("%s: %d channels, %d teams, %d rules, %d journeys, %d routes, %d inhibit rules, %d never-link values, %d key limits, %d outbound subscriptions: OK",
		c.Tree.Where(), len(c.Channels), len(c.Teams.All()), len(c.Rules), len(c.Journeys), c.Routes.Count(), len(c.Routes.Inhibit), never, limits, len(c.Outbound))
}
