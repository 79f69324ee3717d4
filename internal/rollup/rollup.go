// Package rollup turns hourly counters into metric series. Each run reads
// only the counters changed since the last run, recomputes every hour and
// day they fall in from the counters themselves, and only then marks them
// clean — so a run is exact, and a crashed run is simply repeated.
package rollup

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/ocxhq/ocx/internal/metric"
)

// Granularities.
const (
	Hour = "hour"
	Day  = "day"
)

// Counter is one hourly counter as stored.
type Counter struct {
	Family  string
	Hour    time.Time
	Dims    string
	Fields  map[string]int64
	Version int64
}

// Point is one rolled-up value of a metric series.
type Point struct {
	Metric      string           `json:"-"`
	Granularity string           `json:"-"`
	Start       time.Time        `json:"start"`
	Value       float64          `json:"value"`
	N           int64            `json:"n"`
	Parts       map[string]int64 `json:"parts,omitempty"`
}

// Store reads counters and writes series.
type Store interface {
	// Dirty returns counters changed since they were last rolled up.
	Dirty(ctx context.Context) ([]Counter, error)
	// Counters returns a family's counters for hours in [from, to).
	Counters(ctx context.Context, family string, from, to time.Time) ([]Counter, error)
	PutPoint(ctx context.Context, p Point) error
	// MarkClean clears the dirty mark unless the counter changed again.
	MarkClean(ctx context.Context, c Counter) error
}

// Service runs rollups.
type Service struct {
	Store Store
	Log   *slog.Logger
}

// Result says what a run did.
type Result struct {
	Counters int
	Points   int
}

type bucket struct {
	family string
	gran   string
	start  time.Time
}

// Run rolls up everything that changed.
func (s *Service) Run(ctx context.Context) (Result, error) {
	dirty, err := s.Store.Dirty(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("list changed counters: %w", err)
	}
	buckets := map[bucket]bool{}
	for _, c := range dirty {
		if _, ok := formulas[c.Family]; !ok {
			continue
		}
		h := c.Hour.UTC()
		buckets[bucket{c.Family, Hour, h.Truncate(time.Hour)}] = true
		buckets[bucket{c.Family, Day, time.Date(h.Year(), h.Month(), h.Day(), 0, 0, 0, 0, time.UTC)}] = true
	}
	ordered := make([]bucket, 0, len(buckets))
	for b := range buckets {
		ordered = append(ordered, b)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].start.Before(ordered[j].start) })
	res := Result{Counters: len(dirty)}
	for _, b := range ordered {
		wrote, err := s.rollBucket(ctx, b)
		if err != nil {
			return res, err
		}
		if wrote {
			res.Points++
		}
	}
	for _, c := range dirty {
		if err := s.Store.MarkClean(ctx, c); err != nil {
			return res, fmt.Errorf("mark counter %s %s clean: %w", c.Family, c.Hour.Format(time.RFC3339), err)
		}
	}
	s.Log.Info("rollup done", "counters", res.Counters, "points", res.Points)
	return res, nil
}

func (s *Service) rollBucket(ctx context.Context, b bucket) (bool, error) {
	end := b.start.Add(time.Hour)
	if b.gran == Day {
		end = b.start.AddDate(0, 0, 1)
	}
	cs, err := s.Store.Counters(ctx, b.family, b.start, end)
	if err != nil {
		return false, fmt.Errorf("read %s counters %s..%s: %w", b.family, b.start.Format(time.RFC3339), end.Format(time.RFC3339), err)
	}
	f := formulas[b.family]
	p, err := f.compute(cs)
	if err != nil {
		return false, fmt.Errorf("compute %s for %s: %w", f.metric, b.start.Format(time.RFC3339), err)
	}
	p.Metric, p.Granularity, p.Start = f.metric, b.gran, b.start
	if err := s.Store.PutPoint(ctx, p); err != nil {
		return false, fmt.Errorf("write %s %s point %s: %w", p.Metric, p.Granularity, p.Start.Format(time.RFC3339), err)
	}
	return true, nil
}

type formula struct {
	metric  string
	compute func([]Counter) (Point, error)
}

// formulas maps counter families to the metric rolled up from them.
var formulas = map[string]formula{
	metric.FamilyNPS: {metric: "nps", compute: func(cs []Counter) (Point, error) {
		h := metric.Histogram{}
		for _, c := range cs {
			h.Add(metric.FromFields(c.Fields))
		}
		sc, err := metric.NPS(h)
		if err != nil {
			return Point{}, err
		}
		return Point{Value: sc.Value, N: sc.N, Parts: map[string]int64{
			"promoters": sc.Promoters, "passives": sc.Passives, "detractors": sc.Detractors,
		}}, nil
	}},
	metric.FamilyInteractions: {metric: "interactions", compute: func(cs []Counter) (Point, error) {
		var total int64
		for _, c := range cs {
			total += c.Fields["n"]
		}
		return Point{Value: float64(total), N: total}, nil
	}},
}

// Metrics lists the metric names rollups produce.
func Metrics() []string {
	out := make([]string, 0, len(formulas))
	for _, f := range formulas {
		out = append(out, f.metric)
	}
	sort.Strings(out)
	return out
}
