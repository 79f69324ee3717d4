package dynamo_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo"

	"github.com/ocxhq/ocx/internal/dynamo/intakestore"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/topology"
)

func TestQuarantineListsByStateNewestFirst(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	q := intakestore.NewQuarantine(c, names[topology.TableIntake])
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
	// Cursors OCX did not issue are refused as such, never sent to DynamoDB.
	forged := []string{
		"not-a-cursor!",
		base64.RawURLEncoding.EncodeToString([]byte(`{"pk":"x"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"pk":"badrow#x","sk":"badrow","gsi1pk":"badrows#replayed","gsi1sk":"z"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"pk":"delivery#app#1","sk":"badrow","gsi1pk":"badrows#quarantined","gsi1sk":"z"}`)),
	}
	for _, c := range forged {
		if _, _, err := q.List(ctx, ingest.Filter{}, c, 10); !errors.Is(err, ingest.ErrBadCursor) {
			t.Errorf("forged cursor %q: %v, want ingest.ErrBadCursor", c, err)
		}
	}
}

// A delivery whose thousands of items all fail keeps its reasons within one
// DynamoDB item: the row is written, and says how many reasons it left off.
func TestQuarantineKeepsHugeRejectionsWithinOneItem(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	q := intakestore.NewQuarantine(c, names[topology.TableIntake])
	var d channel.Delivery
	d.ID = "sg-batch"
	for i := range 3000 {
		item := fmt.Sprintf(`{"event":"unsubscribe","email":"u%d@example.com","sg_event_id":"%s"}`, i, strings.Repeat("x", 200))
		d.Rejects = append(d.Rejects, channel.Reject{Index: i, Reason: `unknown SendGrid event "unsubscribe"`, Item: []byte(item)})
	}
	row := ingest.NewBadRow("sendgrid", d, "s3://raw/k", nil, time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	if err := q.Put(ctx, row); err != nil {
		t.Fatalf("bad row of 3,000 items not kept: %v", err)
	}
	got, ok, err := q.Get(ctx, row.ID)
	if err != nil || !ok || got.Raw != "s3://raw/k" || len(got.Reasons)+got.OmittedReasons != 3000 || len(got.Reasons) == 0 {
		t.Fatalf("row %v %v: %d reasons + %d omitted, raw %q", ok, err, len(got.Reasons), got.OmittedReasons, got.Raw)
	}
}

func TestProbeAnswersForATableAndFailsForNone(t *testing.T) {
	c, names := newTables(t)
	if err := dynamo.Probe(c, names[topology.TableIntake])(context.Background()); err != nil {
		t.Fatalf("probe of a table: %v", err)
	}
	if err := dynamo.Probe(c, "no-such-table")(context.Background()); err == nil {
		t.Fatal("probe of a missing table succeeded")
	}
}

// Replace is the claim a replay takes: it writes only over the replay
// count it read, so of two replays racing for a row one wins. A time
// window is a key condition on the index.
func TestQuarantineReplaceAndTimeWindow(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	q := intakestore.NewQuarantine(c, names[topology.TableIntake])
	base := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for i := range 6 {
		row := ingest.BadRow{ID: fmt.Sprintf("bad_%d", i), Channel: "stripe", State: ingest.StateQuarantined, CreatedAt: base.Add(time.Duration(i) * time.Hour)}
		if err := q.Put(ctx, row); err != nil {
			t.Fatal(err)
		}
	}
	rows, _, err := q.List(ctx, ingest.Filter{Since: base.Add(2 * time.Hour), Until: base.Add(4 * time.Hour)}, "", 10)
	if err != nil || len(rows) != 2 || rows[0].ID != "bad_3" || rows[1].ID != "bad_2" {
		t.Fatalf("window [2h, 4h): %+v %v", rows, err)
	}
	// A listing resumes right after a row a caller stopped at.
	if rest, _, err := q.List(ctx, ingest.Filter{}, q.After(rows[0], ingest.StateQuarantined), 10); err != nil || len(rest) != 3 || rest[0].ID != "bad_2" {
		t.Fatalf("after bad_3: %+v %v", rest, err)
	}
	if rows, _, _ := q.List(ctx, ingest.Filter{Since: base.Add(5 * time.Hour)}, "", 10); len(rows) != 1 {
		t.Fatalf("since 5h: %d rows", len(rows))
	}
	if rows, _, _ := q.List(ctx, ingest.Filter{Until: base.Add(time.Hour)}, "", 10); len(rows) != 1 {
		t.Fatalf("until 1h: %d rows", len(rows))
	}

	row, _, _ := q.Get(ctx, "bad_0")
	first, second := row, row
	first.Replays, second.Replays = 1, 1
	if ok, err := q.Replace(ctx, first, 0); !ok || err != nil {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := q.Replace(ctx, second, 0); ok || err != nil {
		t.Fatalf("second claim over the same count: %v %v, want refused", ok, err)
	}
	if ok, err := q.Replace(ctx, ingest.BadRow{ID: "bad_none", State: ingest.StateQuarantined}, 0); ok || err != nil {
		t.Fatalf("claim of a row that does not exist: %v %v", ok, err)
	}
	if got, _, _ := q.Get(ctx, "bad_0"); got.Replays != 1 {
		t.Fatalf("stored replays %d", got.Replays)
	}
}
