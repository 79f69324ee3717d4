package journey

import (
	"testing"

	"github.com/ocxhq/ocx/internal/lazyregexp"
)

// Journey and stage ids are their counted patterns, with a length bound instead
// of the count (compiled on first use, not at every cold start).
func TestShapesAreTheirPatterns(t *testing.T) {
	if err := lazyregexp.Check(80,
		lazyregexp.Rewrite{R: idPattern, Original: `^[a-z][a-z0-9-]{0,62}$`, Valid: "az09-", Other: "_A"},
		lazyregexp.Rewrite{R: stagePattern, Original: `^[a-z][a-z0-9_-]{0,62}$`, Valid: "az09-_", Other: "A."},
	); err != nil {
		t.Fatal(err)
	}
}
