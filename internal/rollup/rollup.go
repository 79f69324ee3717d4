// Package rollup counts bus events into counters (Tally), rolls changed
// counters up into bucket cubes (Service), and answers metric queries from
// the cubes (Reader).
//
// A counter is one family's fields for one dimension combination in one
// 15-minute slot. A cube is a family's cells (every dimension combination)
// over one UTC bucket: 15 minutes, hour, day, week or month. Each run reads
// only the counters marked changed since the last run, recomputes the
// cubes of the slots they are in and the hour, day, week and month cubes
// above those, and only then marks the counters clean — so a run costs
// what changed, not what is stored, and a crashed run is simply repeated.
// Every merge is an integer sum, so every cube is exact.
package rollup

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/ocxhq/ocx/internal/metric"
)

// Counter is one counter as stored.
type Counter struct {
	Family string
	Start  time.Time
	Dims   string
	Fields metric.Fields
	// Version counts the writes to the counter; it only grows.
	Version int64
	// Key is the store's own key for the counter, opaque to the rollup.
	Key string
}

// Cube is one family's cells over one UTC bucket.
type Cube struct {
	Family string
	Gran   string
	Start  time.Time
	Cells  metric.Cells
	// Source is the sum of the versions of the counters the cube was
	// computed from (through the cubes below it). It only grows, so a
	// store keeps the cube with the larger Source and a slow run can never
	// replace a newer cube with an older one.
	Source int64
}

// CubeReader reads cubes.
type CubeReader interface {
	// Cubes returns a family's gran cubes starting in [from, to).
	Cubes(ctx context.Context, family, gran string, from, to time.Time) ([]Cube, error)
}

// Store reads counters and keeps cubes.
type Store interface {
	CubeReader
	// Dirty returns counters changed since they were last rolled up.
	Dirty(ctx context.Context) ([]Counter, error)
	// Counters returns a family's counters for slots in [from, to).
	Counters(ctx context.Context, family string, from, to time.Time) ([]Counter, error)
	// PutCube stores c unless a cube with a larger Source is stored.
	PutCube(ctx context.Context, c Cube) error
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
	// Counters is how many changed counters the run read.
	Counters int
	// Points is how many bucket cubes it wrote, at every granularity.
	Points int
}

type bucket struct {
	family string
	start  time.Time
}

// levels derive each granularity from the one below.
var levels = []struct{ gran, from string }{
	{Hour, Slot}, {Day, Hour}, {Week, Day}, {Month, Day},
}

// Run rolls up everything that changed.
func (s *Service) Run(ctx context.Context) (Result, error) {
	dirty, err := s.Store.Dirty(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("list changed counters: %w", err)
	}
	known := map[string]bool{}
	for _, f := range metric.Families() {
		known[f] = true
	}
	slots := map[bucket]bool{}
	for _, c := range dirty {
		if known[c.Family] {
			slots[bucket{c.Family, metric.Slot(c.Start)}] = true
		}
	}
	res := Result{Counters: len(dirty)}
	touched := map[string]map[bucket]bool{Slot: slots}
	for _, b := range ordered(slots) {
		if err := s.rollSlot(ctx, b); err != nil {
			return res, err
		}
		res.Points++
	}
	for _, l := range levels {
		above := map[bucket]bool{}
		for b := range touched[l.from] {
			above[bucket{b.family, floor(b.start, l.gran, time.UTC).UTC()}] = true
		}
		touched[l.gran] = above
		for _, b := range ordered(above) {
			if err := s.rollUp(ctx, b, l.gran, l.from); err != nil {
				return res, err
			}
			res.Points++
		}
	}
	for _, c := range dirty {
		if err := s.Store.MarkClean(ctx, c); err != nil {
			return res, fmt.Errorf("mark counter %s %s clean: %w", c.Family, c.Start.Format(time.RFC3339), err)
		}
	}
	s.Log.Info("rollup done", "counters", res.Counters, "cubes", res.Points)
	return res, nil
}

func ordered(set map[bucket]bool) []bucket {
	out := make([]bucket, 0, len(set))
	for b := range set {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].start.Equal(out[j].start) {
			return out[i].start.Before(out[j].start)
		}
		return out[i].family < out[j].family
	})
	return out
}

// rollSlot recomputes a slot's cube from its counters.
func (s *Service) rollSlot(ctx context.Context, b bucket) error {
	end := b.start.Add(metric.Quantum)
	cs, err := s.Store.Counters(ctx, b.family, b.start, end)
	if err != nil {
		return fmt.Errorf("read %s counters of %s: %w", b.family, b.start.Format(time.RFC3339), err)
	}
	cube := Cube{Family: b.family, Gran: Slot, Start: b.start, Cells: metric.Cells{}}
	for _, c := range cs {
		cube.Source += c.Version
		if !c.Fields.Zero() {
			cube.Cells.Add(c.Dims, c.Fields)
		}
	}
	if err := s.Store.PutCube(ctx, cube); err != nil {
		return fmt.Errorf("write %s %s cube %s: %w", b.family, Slot, b.start.Format(time.RFC3339), err)
	}
	return nil
}

// rollUp recomputes a cube from the cubes of the granularity below.
func (s *Service) rollUp(ctx context.Context, b bucket, gran, from string) error {
	end := next(b.start, gran, time.UTC)
	parts, err := s.Store.Cubes(ctx, b.family, from, b.start, end)
	if err != nil {
		return fmt.Errorf("read %s %s cubes of %s %s: %w", b.family, from, gran, b.start.Format(time.RFC3339), err)
	}
	cube := Cube{Family: b.family, Gran: gran, Start: b.start, Cells: metric.Cells{}}
	for _, p := range parts {
		cube.Source += p.Source
		cube.Cells.Merge(p.Cells)
	}
	if err := s.Store.PutCube(ctx, cube); err != nil {
		return fmt.Errorf("write %s %s cube %s: %w", b.family, gran, b.start.Format(time.RFC3339), err)
	}
	return nil
}
