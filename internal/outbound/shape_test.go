package outbound

import (
	"testing"

	"github.com/ocxhq/ocx/internal/lazyregexp"
)

// Subscription ids and secret names are their counted patterns, with a length bound instead
// of the count (compiled on first use, not at every cold start).
func TestShapesAreTheirPatterns(t *testing.T) {
	for _, c := range []struct {
		r        *lazyregexp.Regexp
		original string
		prefix   string
		valid    string
		other    string
	}{
		{idPattern, `^[a-z0-9][a-z0-9-]{0,62}$`, "", "az09-", "_A"},
		{secretPattern, `^[A-Za-z0-9/_+=.@-]{1,200}$`, "", "aZ9/_+=.@-", " :"},
	} {
		if s, bad := lazyregexp.Disagreement(c.r, c.original, c.prefix, c.valid, c.other, 220, 2000, 7); bad {
			t.Errorf("%s: disagree on %q", c.original, s)
		}
	}
}
