// Package inhibit mutes failures while a related, wider failure is firing:
// a channel-wide bounce-rate failure mutes the per-customer bounces of the
// same channel, as Alertmanager's inhibit rules do.
package inhibit

import "github.com/ocxhq/ocx/internal/labels"

// Rule mutes failures matching Target while a failure matching Source is
// unresolved and both carry the same values of the Equal labels.
type Rule struct {
	Source []labels.Matcher
	Target []labels.Matcher
	Equal  []string
}

// IsSource reports whether a failure with labels s can mute others under
// any of rules; only such failures need to be remembered while they fire.
func IsSource(rules []Rule, s labels.Set) bool {
	for _, r := range rules {
		if labels.All(r.Source, s) {
			return true
		}
	}
	return false
}

// Muted reports whether target is muted by one of the firing sources. A
// failure never mutes itself, even when it matches both sides of a rule.
func Muted(rules []Rule, targetID string, target labels.Set, sources map[string]labels.Set) bool {
	for _, r := range rules {
		if !labels.All(r.Target, target) {
			continue
		}
		for id, src := range sources {
			if id != targetID && labels.All(r.Source, src) && equal(r.Equal, src, target) {
				return true
			}
		}
	}
	return false
}

func equal(names []string, a, b labels.Set) bool {
	for _, n := range names {
		if a[n] != b[n] {
			return false
		}
	}
	return true
}
