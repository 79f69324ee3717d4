package outbound

import (
	"testing"

	"github.com/ocxhq/ocx/internal/lazyregexp"
)

// Subscription ids and secret names are their counted patterns, with a
// length bound instead of the count (compiled on first use, not at every
// cold start).
func TestShapesAreTheirPatterns(t *testing.T) {
	if err := lazyregexp.Check(220,
		lazyregexp.Rewrite{R: idPattern, Original: `^[a-z0-9][a-z0-9-]{0,62}$`, Valid: "az09-", Other: "_A"},
		lazyregexp.Rewrite{R: secretPattern, Original: `^[A-Za-z0-9/_+=.@-]{1,200}$`, Valid: "aZ9/_+=.@-", Other: " :"},
	); err != nil {
		t.Fatal(err)
	}
}
