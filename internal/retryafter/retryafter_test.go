package retryafter

import (
	"net/http"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"5":                             5 * time.Second,
		" 120 ":                         2 * time.Minute,
		"0":                             0,
		"-1":                            0,
		"soon":                          0,
		"Sat, 01 Mar 2025 12:00:30 GMT": 30 * time.Second,
		"Sat, 01 Mar 2025 11:00:00 GMT": 0,
		now.Add(time.Hour).Format(http.TimeFormat): time.Hour,
	}
	for v, want := range tests {
		if got := Parse(v, now); got != want {
			t.Errorf("Parse(%q) = %s, want %s", v, got, want)
		}
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := Of(h, now); got != want {
			t.Errorf("Of(Retry-After: %q) = %s, want %s", v, got, want)
		}
	}
}
