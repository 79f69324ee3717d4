package dynamo

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/topology"
)

func TestQuarantineListsByStateNewestFirst(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	q := NewQuarantine(c, names[topology.TableIntake])
	base := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for i := range 5 {
		ch := "stripe"
		if i%2 == 1 {
			ch = "shopify"
		}
		row := ingest.BadRow{ID: fmt.Sprintf("bad_%d", i), Channel: ch, State: ingest.StateQuarantined, CreatedAt: base.Add(time.Duration(i) * time.Minute),
			Reasons: []ingest.Reason{{Index: 0, Reason: "unknown event type"}}}
		if err := q.Put(ctx, row); err != nil {
			t.Fatal(err)
		}
	}
	// Page through two at a time.
	var got []string
	cursor := ""
	for {
		rows, next, err := q.List(ctx, ingest.Filter{}, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			got = append(got, r.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(got) != "[bad_4 bad_3 bad_2 bad_1 bad_0]" {
		t.Fatalf("paged list %v, want newest first", got)
	}
	rows, _, err := q.List(ctx, ingest.Filter{Channel: "shopify"}, "", 10)
	if err != nil || len(rows) != 2 {
		t.Fatalf("channel filter: %d rows, %v", len(rows), err)
	}
	// A replayed row leaves the quarantined list.
	r, ok, err := q.Get(ctx, "bad_4")
	if err != nil || !ok || r.Reasons[0].Reason != "unknown event type" {
		t.Fatalf("Get = %+v %v %v", r, ok, err)
	}
	r.State = ingest.StateReplayed
	if err := q.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	rows, _, _ = q.List(ctx, ingest.Filter{}, "", 10)
	replayed, _, _ := q.List(ctx, ingest.Filter{State: ingest.StateReplayed}, "", 10)
	if len(rows) != 4 || len(replayed) != 1 {
		t.Fatalf("after replay: %d quarantined, %d replayed", len(rows), len(replayed))
	}
	if _, _, err := q.List(ctx, ingest.Filter{}, "not-a-cursor!", 10); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
}
