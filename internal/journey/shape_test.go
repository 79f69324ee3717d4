package journey

import (
	"testing"

	"github.com/ocxhq/ocx/internal/lazyregexp"
)

// Journey and stage ids are their counted patterns, with a length bound instead
// of the count (compiled on first use, not at every cold start).
func TestShapesAreTheirPatterns(t *testing.T) {
	for _, c := range []struct {
		r        *lazyregexp.Regexp
		original string
		prefix   string
		valid    string
		other    string
	}{
		{idPattern, `^[a-z][a-z0-9-]{0,62}$`, "", "az09-", "_A"},
		{stagePattern, `^[a-z][a-z0-9_-]{0,62}$`, "", "az09-_", "A."},
	} {
		if s, bad := lazyregexp.Disagreement(c.r, c.original, c.prefix, c.valid, c.other, 80, 2000, 7); bad {
			t.Errorf("%s: disagree on %q", c.original, s)
		}
	}
}
