package customer

import (
	"testing"

	"github.com/ocxhq/ocx/internal/lazyregexp"
)

// The id shapes are their counted patterns, with a length bound instead
// of the count (compiled on first use, not at every cold start).
func TestShapesAreTheirPatterns(t *testing.T) {
	for _, c := range []struct {
		r        *lazyregexp.Regexp
		original string
		prefix   string
		valid    string
		other    string
	}{
		{idShape, `^cus_[0-9a-f]{1,64}$`, "cus_", "0123456789abcdef", "Z-_"},
		{refShape, `^[A-Za-z0-9._-]{1,64}$`, "", "aZ09._-", "/ é"},
	} {
		if s, bad := lazyregexp.Disagreement(c.r, c.original, c.prefix, c.valid, c.other, 80, 2000, 7); bad {
			t.Errorf("%s: disagree on %q", c.original, s)
		}
	}
}
