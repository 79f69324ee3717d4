package rollup

import (
	"fmt"
	"time"

	"github.com/ocxhq/ocx/internal/metric"
)

// Granularities. Slot is the counters' own resolution (metric.Quantum);
// the rollup keeps it so buckets in zones offset by 30 or 45 minutes
// can be assembled; the API offers the others.
const (
	Slot  = "15m"
	Hour  = "hour"
	Day   = "day"
	Week  = "week"
	Month = "month"
)

// Granularities are the bucket sizes analysts may ask for.
var Granularities = []string{Hour, Day, Week, Month}

// Span is one bucket: [Start, End).
type Span struct {
	Start, End time.Time
}

// floor returns the start of the gran bucket holding t, in loc: weeks
// start on Monday (ISO 8601).
func floor(t time.Time, gran string, loc *time.Location) time.Time {
	l := t.In(loc)
	switch gran {
	case Slot:
		return t.UTC().Truncate(metric.Quantum)
	case Hour:
		// Back to the instant the local clock last read HH:00, so hours of
		// a +5:30 zone start at :30 UTC. Going back by the clock's minutes
		// rather than rebuilding the wall time keeps a repeated DST hour
		// two distinct buckets.
		into := time.Duration(l.Minute())*time.Minute + time.Duration(l.Second())*time.Second + time.Duration(l.Nanosecond())
		return t.Add(-into).In(loc)
	case Day:
		return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	case Week:
		d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
		back := (int(d.Weekday()) + 6) % 7
		return d.AddDate(0, 0, -back)
	case Month:
		return time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc)
	}
	panic("unknown granularity " + gran)
}

// next returns the start of the bucket after the one starting at start.
func next(start time.Time, gran string, loc *time.Location) time.Time {
	l := start.In(loc)
	switch gran {
	case Slot:
		return start.Add(metric.Quantum)
	case Hour:
		return floor(start.Add(time.Hour), Hour, loc)
	case Day:
		return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
	case Week:
		return time.Date(l.Year(), l.Month(), l.Day()+7, 0, 0, 0, 0, loc)
	case Month:
		return time.Date(l.Year(), l.Month()+1, 1, 0, 0, 0, 0, loc)
	}
	panic("unknown granularity " + gran)
}

// Buckets returns the gran buckets, in loc, that overlap [from, to): the
// first starts at or before from. It refuses more than limit (when
// positive).
func Buckets(gran string, from, to time.Time, loc *time.Location, limit int) ([]Span, error) {
	var out []Span
	for s := floor(from, gran, loc); s.Before(to); {
		if limit > 0 && len(out) == limit {
			return nil, fmt.Errorf("more than %d %s buckets", limit, gran)
		}
		e := next(s, gran, loc)
		out = append(out, Span{Start: s.UTC(), End: e.UTC()})
		s = e
	}
	return out, nil
}

// piece is one stored cube a bucket is assembled from.
type piece struct {
	gran  string
	start time.Time
}

// aligned reports whether t starts a UTC bucket of gran.
func aligned(t time.Time, gran string) bool {
	t = t.UTC()
	return floor(t, gran, time.UTC).Equal(t)
}

// cover returns the fewest stored UTC cubes that tile s exactly, coarsest
// first: a UTC month is its month cube; a month in Paris is the hours
// before the first UTC midnight, then days and weeks, then hours again.
// It fails when s does not start and end on a counter slot boundary (a
// zone whose offset is not a multiple of metric.Quantum).
func cover(s Span) ([]piece, error) {
	var out []piece
	for cur := s.Start.UTC(); cur.Before(s.End); {
		took := false
		for _, g := range []string{Month, Week, Day, Hour, Slot} {
			if e := next(cur, g, time.UTC); aligned(cur, g) && !e.After(s.End) {
				out = append(out, piece{g, cur})
				cur, took = e, true
				break
			}
		}
		if !took {
			return nil, fmt.Errorf("%s is not on a %s boundary", cur.Format(time.RFC3339), metric.Quantum)
		}
	}
	return out, nil
}
