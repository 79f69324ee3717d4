// Package retryafter reads HTTP's Retry-After header, which every receiver
// OCX calls (Slack, Zendesk, outbound endpoints) may send.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Parse reads a Retry-After value (delay-seconds or an HTTP date) as a
// wait from now; zero when absent, unreadable or already past.
func Parse(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0)
	}
	return 0
}

// Of reads the Retry-After header of h.
func Of(h http.Header, now time.Time) time.Duration { return Parse(h.Get("Retry-After"), now) }
