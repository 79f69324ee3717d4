package rollup

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/metric"
)

// Stored is one item a backfill reads from the customers table: an
// interaction recorded for CustomerID, or a note that CustomerID was merged
// into MergedInto (its interactions stay where they were recorded).
type Stored struct {
	CustomerID  string
	Interaction *events.Interaction
	MergedInto  string
}

// BackfillSource reads what a backfill rebuilds from.
type BackfillSource interface {
	// Stored calls fn for every stored interaction and merge; progress
	// reports items read against an estimate of the total.
	Stored(ctx context.Context, fn func(Stored) error, progress func(done, total int64)) error
	// Failures calls fn for every failure detected in [from, to).
	Failures(ctx context.Context, from, to time.Time, fn func(events.Failure) error) error
}

// Replaced says what replacing a family's counters changed.
type Replaced struct {
	Written, Zeroed, Unchanged int
	// Raced counts counters that changed while the backfill ran; they
	// keep their live value.
	Raced int
}

// BackfillStore replaces counters.
type BackfillStore interface {
	// ReplaceCounters makes a family's counters for slots in [from, to)
	// exactly slots (counters not in it become zero) and marks the
	// changed ones for the next rollup.
	ReplaceCounters(ctx context.Context, family string, from, to time.Time, slots map[time.Time]metric.Cells) (Replaced, error)
}

// Backfill rebuilds the counters of a range from stored interactions and
// failure records, then rolls them up: for when counting was broken or
// a metric's definition changed. Journey counters are counted from journey
// events only and are left as they are.
type Backfill struct {
	Source     BackfillSource
	Store      BackfillStore
	Rollup     *Service
	Attributes []string
	// Progress reports each phase's progress.
	Progress func(phase string, done, total int64)
}

// BackfillResult says what a backfill did.
type BackfillResult struct {
	Interactions, Failures int
	Replaced               Replaced
	Rollup                 Result
}

// Run rebuilds [from, to), widened to whole counter slots.
func (b *Backfill) Run(ctx context.Context, from, to time.Time) (BackfillResult, error) {
	from = metric.Slot(from)
	if s := metric.Slot(to); s.Before(to) {
		to = s.Add(metric.Quantum)
	}
	progress := b.Progress
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	var res BackfillResult
	slots := map[string]map[time.Time]metric.Cells{}
	add := func(ds []metric.Delta) {
		for _, d := range ds {
			if d.Start.Before(from) || !d.Start.Before(to) {
				continue
			}
			fam, ok := slots[d.Family]
			if !ok {
				fam = map[time.Time]metric.Cells{}
				slots[d.Family] = fam
			}
			cells, ok := fam[d.Start]
			if !ok {
				cells = metric.Cells{}
				fam[d.Start] = cells
			}
			cells.Add(d.Dims, d.Fields)
		}
	}
	for _, f := range metric.Families() {
		if f != metric.FamilyJourneys {
			slots[f] = map[time.Time]metric.Cells{}
		}
	}

	// Contacts around the range decide whether those in it repeat one or
	// are followed by one.
	contacts := map[string][]*metric.Interaction{}
	merged := map[string]string{}
	err := b.Source.Stored(ctx, func(s Stored) error {
		if s.MergedInto != "" {
			merged[s.CustomerID] = s.MergedInto
			return nil
		}
		if s.Interaction == nil {
			return nil
		}
		in := metric.ObserveInteraction(*s.Interaction, b.Attributes)
		if !in.At.Before(from) && in.At.Before(to) {
			res.Interactions++
			add(in.Deltas())
		}
		if in.Contact && !in.At.Before(from.Add(-metric.ContactWindow)) && in.At.Before(to.Add(metric.ContactWindow)) {
			contacts[s.CustomerID] = append(contacts[s.CustomerID], in)
		}
		return nil
	}, func(done, total int64) { progress("reading interactions", done, total) })
	if err != nil {
		return res, fmt.Errorf("read stored interactions: %w", err)
	}
	byCustomer := map[string][]*metric.Interaction{}
	for cid, ins := range contacts {
		owner := survivor(cid, merged)
		byCustomer[owner] = append(byCustomer[owner], ins...)
	}
	for _, ins := range byCustomer {
		sort.Slice(ins, func(i, j int) bool {
			if !ins[i].At.Equal(ins[j].At) {
				return ins[i].At.Before(ins[j].At)
			}
			return ins[i].ID < ins[j].ID
		})
		var h metric.Contacts
		for _, in := range ins {
			add(h.Add(in))
		}
	}

	err = b.Source.Failures(ctx, from, to, func(f events.Failure) error {
		res.Failures++
		for _, typ := range []string{events.TypeFailureDetected, events.TypeFailureAcknowledged, events.TypeFailureResolved} {
			add(metric.ObserveFailure(typ, f).Deltas())
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("read failures: %w", err)
	}

	families := make([]string, 0, len(slots))
	for f := range slots {
		families = append(families, f)
	}
	sort.Strings(families)
	for i, f := range families {
		progress("writing counters", int64(i), int64(len(families)))
		r, err := b.Store.ReplaceCounters(ctx, f, from, to, slots[f])
		if err != nil {
			return res, fmt.Errorf("replace %s counters: %w", f, err)
		}
		res.Replaced.Written += r.Written
		res.Replaced.Zeroed += r.Zeroed
		res.Replaced.Unchanged += r.Unchanged
		res.Replaced.Raced += r.Raced
	}
	progress("writing counters", int64(len(families)), int64(len(families)))
	if b.Rollup != nil {
		progress("rolling up", 0, 1)
		if res.Rollup, err = b.Rollup.Run(ctx); err != nil {
			return res, err
		}
		progress("rolling up", 1, 1)
	}
	return res, nil
}

// survivor follows merges to the customer that absorbed cid.
func survivor(cid string, merged map[string]string) string {
	for range 32 {
		next, ok := merged[cid]
		if !ok || next == cid {
			return cid
		}
		cid = next
	}
	return cid
}
