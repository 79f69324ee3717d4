package customer

import (
	"testing"

	"github.com/ocxhq/ocx/internal/lazyregexp"
)

// The id shapes are their counted patterns, with a length bound instead
// of the count (compiled on first use, not at every cold start).
func TestShapesAreTheirPatterns(t *testing.T) {
	if err := lazyregexp.Check(80,
		lazyregexp.Rewrite{R: idShape, Original: `^cus_[0-9a-f]{1,64}$`, Prefix: "cus_", Valid: "0123456789abcdef", Other: "Z-_"},
		lazyregexp.Rewrite{R: refShape, Original: `^[A-Za-z0-9._-]{1,64}$`, Valid: "aZ09._-", Other: "/ é"},
	); err != nil {
		t.Fatal(err)
	}
}
