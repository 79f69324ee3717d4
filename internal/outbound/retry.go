package outbound

import (
	"time"
)

// The retry schedule. Attempt n (the first is 1) that fails is tried again
// after FirstRetry·3^(n-1), at most MaxBackoff, times a jitter factor
// between 0.8 and 1.2 so endpoints recovering from an outage are not hit
// by every delivery at once: about 5 s, 15 s, 45 s, 2¼ min, 7 min, 20 min,
// 1 h, 3 h, 9 h, then every 12 h. A delivery is given up when its next try
// would fall after MaxAge from its first (or from its replay); the last
// try is made at MaxAge itself. That is 14 tries over 3 days.
const (
	FirstRetry = 5 * time.Second
	MaxBackoff = 12 * time.Hour
	MaxAge     = 72 * time.Hour
	jitter     = 0.2
)

// Disabling. An endpoint whose every attempt has failed for DisableAfter,
// and at least DisableMinFailures times in a row, is disabled: it has
// missed most of the retry window, and an operator must look before OCX
// sends it more. Deliveries for it fail at once until it is enabled again,
// and stay listed for replay.
const (
	DisableAfter       = 48 * time.Hour
	DisableMinFailures = 10
)

// Backoff is the wait after failed attempt n; r in [0, 1) picks the jitter.
func Backoff(n int, r float64) time.Duration {
	d := FirstRetry
	for i := 1; i < n && d < MaxBackoff; i++ {
		d *= 3
	}
	d = min(d, MaxBackoff)
	f := 1 - jitter + 2*jitter*r
	return time.Duration(float64(d) * f).Round(time.Millisecond)
}

// nextTry is when a delivery whose attempt failed at now is tried again,
// and false when it is given up: the backoff, or Retry-After when the
// endpoint asked for longer, and never past the delivery's deadline,
// where one last try is made.
func nextTry(now, deadline time.Time, backoff, retryAfter time.Duration) (time.Time, bool) {
	if !now.Before(deadline) {
		return time.Time{}, false
	}
	next := now.Add(max(backoff, retryAfter))
	if next.After(deadline) {
		next = deadline
	}
	return next, true
}
