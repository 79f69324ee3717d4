package rules

import (
	"strings"
	"testing"
)

// A key value too long for a DynamoDB key is keyed by its digest: the same
// value keys the same way, a different one differently, and the key stays
// short.
func TestLongKeyValuesAreDigested(t *testing.T) {
	k, err := parseKey([]string{"detail.attributes.order_id"})
	if err != nil {
		t.Fatal(err)
	}
	doc := func(id string) any {
		return map[string]any{"detail": map[string]any{"attributes": map[string]any{"order_id": id}}}
	}
	long := strings.Repeat("9", 5000)
	a, b, c := k.eval(doc(long)), k.eval(doc(long)), k.eval(doc(long+"1"))
	if a != b || a == c || len(a) > 200 || !strings.HasPrefix(a, "attributes.order_id=sha256:") {
		t.Fatalf("keys %q %q %q", a, b, c)
	}
	if got := k.eval(doc("o-1")); got != "attributes.order_id=o-1" {
		t.Fatalf("short key %q", got)
	}
}
