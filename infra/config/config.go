// Package config holds the configuration OCX ships with: channels, teams,
// failure rules, journeys and identity guardrails as YAML files a platform engineer edits. It is
// embedded into every function; OCX_CONFIG_DIR points at a directory of the
// same layout to use edited files instead.
package config

import "embed"

// Shipped is the default configuration tree.
//
//go:embed channels.yaml teams.yaml routes.yaml identity.yaml outbound.yaml rules journeys
var Shipped embed.FS
