package rollup

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/metric"
)

// Request asks for a metric series.
type Request struct {
	Metric      metric.Metric
	Granularity string
	// From and To bound the series; the first bucket is the one holding
	// From, the last the one holding the instant before To.
	From, To time.Time
	// Location is the zone buckets are cut in.
	Location *time.Location
	// Filters keep dimension combinations whose value of each named
	// dimension is one of the listed values ("" matches an event that had
	// none).
	Filters map[string][]string
	// GroupBy splits the series by these dimensions.
	GroupBy []string
	// Now decides which buckets are still provisional.
	Now time.Time
	// MaxPoints bounds buckets × groups.
	MaxPoints int
}

// Series is one group's points, one per bucket, empty buckets included.
type Series struct {
	// Group holds the group's value of each GroupBy dimension.
	Group  map[string]string
	Points []metric.Point
}

// Answer is the result of a Request.
type Answer struct {
	Buckets []Span
	Series  []Series
}

// BadRequest is a request that cannot be answered as asked; its message
// says why and what would work.
type BadRequest struct{ Msg string }

func (e *BadRequest) Error() string { return e.Msg }

func bad(format string, args ...any) error { return &BadRequest{Msg: fmt.Sprintf(format, args...)} }

// Reader answers metric queries from cubes.
type Reader struct {
	Cubes CubeReader
}

// Query computes the series a request asks for.
func (r Reader) Query(ctx context.Context, q Request) (Answer, error) {
	m := q.Metric
	if !slices.Contains(Granularities, q.Granularity) {
		return Answer{}, bad("granularity %q: want one of %s", q.Granularity, strings.Join(Granularities, ", "))
	}
	if !q.From.Before(q.To) {
		return Answer{}, bad("from %s must be before to %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	for d := range q.Filters {
		if !slices.Contains(m.Dimensions, d) {
			return Answer{}, bad("%s has no dimension %q; its dimensions: %s", m.Name, d, strings.Join(m.Dimensions, ", "))
		}
	}
	for i, d := range q.GroupBy {
		if !slices.Contains(m.Dimensions, d) {
			return Answer{}, bad("cannot group %s by %q; its dimensions: %s", m.Name, d, strings.Join(m.Dimensions, ", "))
		}
		if slices.Contains(q.GroupBy[:i], d) {
			return Answer{}, bad("group_by names %q twice", d)
		}
	}
	if _, filtered := q.Filters[m.Needs]; m.Needs != "" && !filtered && !slices.Contains(q.GroupBy, m.Needs) {
		return Answer{}, bad("%s counts each %s separately: add group_by=%s or filter %s=…", m.Name, m.Needs, m.Needs, m.Needs)
	}
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	buckets, err := Buckets(q.Granularity, q.From, q.To, loc, q.MaxPoints)
	if err != nil {
		return Answer{}, bad("the range holds %v; narrow it or use a coarser granularity", err)
	}
	// Which stored cubes make up each bucket.
	plan := make([][]piece, len(buckets))
	for i, b := range buckets {
		if plan[i], err = cover(b); err != nil {
			return Answer{}, bad("time zone %s: %v; its offset is not a multiple of %s at that time", loc, err, metric.Quantum)
		}
	}
	cubes, err := r.fetch(ctx, m.Family, plan)
	if err != nil {
		return Answer{}, err
	}

	type groupCells struct {
		group   map[string]string
		buckets []metric.Fields
	}
	groups := map[string]*groupCells{}
	decoded := map[string]metric.Dims{}
	for i, pieces := range plan {
		for _, p := range pieces {
			c, ok := cubes[cubeKey{p.gran, p.start.Unix()}]
			if !ok {
				continue
			}
			for dims, fields := range c.Cells {
				d, ok := decoded[dims]
				if !ok {
					d = metric.DecodeDims(dims)
					decoded[dims] = d
				}
				if !matches(d, q.Filters) {
					continue
				}
				key, group := groupOf(d, q.GroupBy)
				g, ok := groups[key]
				if !ok {
					if q.MaxPoints > 0 && (len(groups)+1)*len(buckets) > q.MaxPoints {
						return Answer{}, bad("more than %d groups × %d buckets exceed the limit of %d points; filter, group by fewer dimensions or narrow the range",
							len(groups), len(buckets), q.MaxPoints)
					}
					g = &groupCells{group: group, buckets: make([]metric.Fields, len(buckets))}
					groups[key] = g
				}
				if g.buckets[i] == nil {
					g.buckets[i] = metric.Fields{}
				}
				g.buckets[i].Add(fields)
			}
		}
	}
	if len(q.GroupBy) == 0 && len(groups) == 0 {
		groups[""] = &groupCells{group: map[string]string{}, buckets: make([]metric.Fields, len(buckets))}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ans := Answer{Buckets: buckets, Series: make([]Series, 0, len(keys))}
	for _, k := range keys {
		g := groups[k]
		s := Series{Group: g.group, Points: make([]metric.Point, len(buckets))}
		for i, b := range buckets {
			f := g.buckets[i]
			if f == nil {
				f = metric.Fields{}
			}
			p := m.Compute(f)
			p.Start = b.Start
			p.Provisional = b.End.Add(m.Settles).After(q.Now)
			s.Points[i] = p
		}
		ans.Series = append(ans.Series, s)
	}
	return ans, nil
}

func matches(d metric.Dims, filters map[string][]string) bool {
	for k, allowed := range filters {
		if !slices.Contains(allowed, d[k]) {
			return false
		}
	}
	return true
}

func groupOf(d metric.Dims, by []string) (string, map[string]string) {
	g := make(map[string]string, len(by))
	parts := make([]string, len(by))
	for i, k := range by {
		g[k] = d[k]
		parts[i] = d[k]
	}
	return strings.Join(parts, "\x00"), g
}

// fetch reads the cubes a plan names, one range query per run of
// adjacent cubes of one granularity.
type cubeKey struct {
	gran  string
	start int64
}

func (r Reader) fetch(ctx context.Context, family string, plan [][]piece) (map[cubeKey]Cube, error) {
	byGran := map[string][]time.Time{}
	for _, ps := range plan {
		for _, p := range ps {
			byGran[p.gran] = append(byGran[p.gran], p.start)
		}
	}
	out := map[cubeKey]Cube{}
	for gran, starts := range byGran {
		sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
		for i := 0; i < len(starts); {
			from, end := starts[i], next(starts[i], gran, time.UTC)
			j := i + 1
			for ; j < len(starts); j++ {
				if starts[j].After(end) {
					break
				}
				end = next(starts[j], gran, time.UTC)
			}
			cs, err := r.Cubes.Cubes(ctx, family, gran, from, end)
			if err != nil {
				return nil, fmt.Errorf("read %s %s cubes %s..%s: %w", family, gran, from.Format(time.RFC3339), end.Format(time.RFC3339), err)
			}
			for _, c := range cs {
				out[cubeKey{gran, c.Start.Unix()}] = c
			}
			i = j
		}
	}
	return out, nil
}

// Point is one bucket of a series.
type Point = metric.Point
