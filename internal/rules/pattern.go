package rules

import "github.com/ocxhq/ocx/internal/eventpattern"

// A rule's event patterns are EventBridge patterns, compiled and matched
// by package eventpattern, as journeys' and the bus's are.

// leaves returns the leaf values at path in a decoded event: keys and due
// dates are read the way a pattern's field sees its values.
func leaves(doc any, path []string) []any { return eventpattern.Values(doc, path) }
