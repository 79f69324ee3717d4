package events

import "embed"

// Schemas holds one JSON Schema per event type (and the webhook body).
//
//go:embed schemas/*.json
var Schemas embed.FS

// Samples holds a sample of each event type, named like its schema.
//
//go:embed samples/*.json
var Samples embed.FS
