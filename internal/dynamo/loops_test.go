package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo/loopstore"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/loop"
	"github.com/ocxhq/ocx/internal/topology"
)

func TestLoops(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	l := loopstore.NewLoops(c, names[topology.TableFailures])
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	r := loop.Record{FailureLoop: events.FailureLoop{FailureID: "flr_1", RuleID: "r", Team: "t", Severity: "warning",
		CustomerID: "cus_1", DetectedAt: at, DecideBy: at.Add(30 * 24 * time.Hour)}, WantsTicket: true}
	if _, err := l.Get(ctx, "flr_1"); !errors.Is(err, loop.ErrNotFound) {
		t.Fatalf("get before put: %v", err)
	}
	if err := l.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, r); !errors.Is(err, loop.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	got, err := l.Get(ctx, "flr_1")
	if err != nil || got.Version != 1 || !got.WantsTicket || !got.DecideBy.Equal(r.DecideBy) {
		t.Fatalf("get = %+v, %v", got, err)
	}
	if ids, err := l.OfCustomer(ctx, "cus_1"); err != nil || len(ids) != 1 || ids[0] != "flr_1" {
		t.Fatalf("of customer = %v, %v", ids, err)
	}
	got.TicketID = "35436"
	if err := l.Put(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, got); !errors.Is(err, loop.ErrConflict) {
		t.Fatalf("stale put: %v, want ErrConflict", err)
	}
	if id, err := l.ByTicket(ctx, "35436"); err != nil || id != "flr_1" {
		t.Fatalf("by ticket = %q, %v", id, err)
	}
	got.Version = 2
	got.Outcome, got.Reason = events.OutcomeRecovered, "nps 9"
	if err := l.Put(ctx, got); err != nil {
		t.Fatal(err)
	}
	if ids, err := l.OfCustomer(ctx, "cus_1"); err != nil || len(ids) != 0 {
		t.Fatalf("decided loop still listed for its customer: %v, %v", ids, err)
	}
}

func TestLoopErasedWithItsFailure(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	l := loopstore.NewLoops(c, names[topology.TableFailures])
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	r := loop.Record{FailureLoop: events.FailureLoop{FailureID: "flr_2", RuleID: "r", Team: "t", Severity: "warning",
		CustomerID: "cus_2", TicketID: "99", DetectedAt: at, DecideBy: at.Add(time.Hour)}}
	if err := l.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := l.Erase(ctx, "flr_2"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(ctx, "flr_2"); !errors.Is(err, loop.ErrNotFound) {
		t.Fatalf("loop after erasure: %v", err)
	}
	if ids, _ := l.OfCustomer(ctx, "cus_2"); len(ids) != 0 {
		t.Fatalf("customer index after erasure: %v", ids)
	}
	if _, err := l.ByTicket(ctx, "99"); !errors.Is(err, loop.ErrNotFound) {
		t.Fatalf("ticket index after erasure: %v", err)
	}
	if err := l.Erase(ctx, "flr_2"); err != nil {
		t.Fatalf("erasing again: %v", err)
	}
}

func TestLoopsDue(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	l := loopstore.NewLoops(c, names[topology.TableFailures])
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for i, due := range []time.Duration{2 * time.Hour, 30 * time.Minute, 48 * time.Hour} {
		r := loop.Record{FailureLoop: events.FailureLoop{FailureID: fmt.Sprintf("flr_%d", i), RuleID: "r", Team: "t", Severity: "warning",
			DetectedAt: at, FollowUpDue: at.Add(due), DecideBy: at.Add(30 * 24 * time.Hour)}}
		if err := l.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.Due(ctx, at.Add(2*time.Hour), 10)
	if err != nil || strings.Join(got, ",") != "flr_1,flr_0" {
		t.Fatalf("due by 2h: %v, %v; want flr_1,flr_0 soonest first", got, err)
	}
	// Followed up, its next instant is the end of its window.
	r, _ := l.Get(ctx, "flr_1")
	r.FollowedUpAt = at.Add(10 * time.Minute)
	if err := l.Put(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Due(ctx, at.Add(2*time.Hour), 10); strings.Join(got, ",") != "flr_0" {
		t.Fatalf("due after a follow-up: %v", got)
	}
	if got, _ := l.Due(ctx, at.Add(31*24*time.Hour), 2); len(got) != 2 {
		t.Fatalf("limit: %v", got)
	}
}
