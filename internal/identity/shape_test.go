package identity

import (
	"regexp"
	"strings"
	"testing"
)

// The written-out shapes accept exactly what their patterns do.
func TestShapesAreTheirPatterns(t *testing.T) {
	checks := []struct {
		name    string
		pattern *regexp.Regexp
		fn      func(string) bool
	}{
		{"refObject", regexp.MustCompile(`^[a-z][a-z_]{0,31}$`), refObject},
		{"keyKind", regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}(\.[a-z][a-z_]{0,31})?$`), keyKind},
		{"ChannelID", regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`), ChannelID},
	}
	cases := []string{"", "a", "A", "1a", "a1", "a-b", "a_b", "-a", "stripe", "stripe.charge", "stripe.", ".charge", "stripe.charge.x",
		"stripe.Charge", "stripe.ch4rge", "stripe.ch_rge", "app-2", "é", "a é", "a\n", strings.Repeat("a", 32), strings.Repeat("a", 33),
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 63) + "." + strings.Repeat("b", 32),
		strings.Repeat("a", 63) + "." + strings.Repeat("b", 33), "a.b.c"}
	for _, c := range checks {
		for _, s := range cases {
			if got, want := c.fn(s), c.pattern.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, the pattern says %v", c.name, s, got, want)
			}
		}
	}
}
