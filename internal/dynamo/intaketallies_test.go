package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo/healthstore"
	"github.com/ocxhq/ocx/internal/dynamo/intakestore"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channelhealth"
	"github.com/ocxhq/ocx/internal/topology"
)

// Environments' tallies of one minute add up; a window sums its minutes,
// half-open; the last delivery only moves forward.
func TestIntakeTalliesAddUpPerChannelAndMinute(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	st := intakestore.NewTallies(c, names[topology.TableIntake])
	rd := healthstore.NewTallies(c, names[topology.TableIntake])
	m0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for _, tl := range []events.IntakeTally{
		{Channel: "app", OccurredAt: m0, Instance: "a", Accepted: 3, Events: 4, LastAcceptedAt: m0.Add(40 * time.Second)},
		{Channel: "app", OccurredAt: m0, Instance: "b", Accepted: 1, RejectedSignature: 2, Events: 1, LastAcceptedAt: m0.Add(20 * time.Second)},
		{Channel: "app", OccurredAt: m0.Add(time.Minute), Instance: "a", Duplicate: 1, Ignored: 5, Quarantined: 2, RejectedOther: 1, Unavailable: 6},
		{Channel: "app", OccurredAt: m0.Add(2 * time.Minute), Instance: "a", Accepted: 100},
		{Channel: "stripe", OccurredAt: m0, Instance: "a", Accepted: 7, LastAcceptedAt: m0.Add(time.Second)},
	} {
		if err := st.Add(ctx, tl); err != nil {
			t.Fatal(err)
		}
	}
	got, err := rd.Window(ctx, "app", m0, m0.Add(2*time.Minute))
	want := channelhealth.Counts{Accepted: 4, Duplicate: 1, RejectedSignature: 2, RejectedOther: 1, Unavailable: 6, Events: 5, Ignored: 5, Quarantined: 2}
	if err != nil || got != want {
		t.Fatalf("window [m0, m0+2m): %+v %v, want %+v", got, err, want)
	}
	if got, _ := rd.Window(ctx, "app", m0.Add(2*time.Minute), m0.Add(time.Hour)); got.Accepted != 100 {
		t.Fatalf("window from m0+2m: %+v", got)
	}
	last, err := rd.LastAccepted(ctx, "app")
	if err != nil || !last.Equal(m0.Add(40*time.Second)) {
		t.Fatalf("last delivery %s %v, want the later of the two", last, err)
	}
	if last, _ := rd.LastAccepted(ctx, "zendesk"); !last.IsZero() {
		t.Fatalf("a channel that never delivered: %s", last)
	}
}
