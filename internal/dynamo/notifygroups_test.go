package dynamo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo/notifystore"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/silence"
	"github.com/ocxhq/ocx/internal/topology"
)

func TestNotifyGroups(t *testing.T) {
	ctx := context.Background()
	client, table := failuresTable(t)
	g := notifystore.NewNotifyGroups(client, table)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := events.Failure{ID: "flr_1", RuleID: "email.bounced", Team: "digital", Labels: map[string]string{"channel": "ses"}, DetectedAt: t0}

	if added, err := g.AddMember(ctx, "gA", f, t0); err != nil || !added {
		t.Fatalf("AddMember = %v, %v", added, err)
	}
	if added, err := g.AddMember(ctx, "gA", f, t0.Add(time.Minute)); err != nil || added {
		t.Fatalf("second AddMember = %v, %v; want not added", added, err)
	}
	f.State = "acknowledged"
	if found, err := g.UpdateMember(ctx, "gA", f); err != nil || !found {
		t.Fatalf("UpdateMember = %v, %v", found, err)
	}
	if found, err := g.UpdateMember(ctx, "gB", f); err != nil || found {
		t.Fatalf("UpdateMember of a non-member = %v, %v", found, err)
	}
	ms, err := g.GroupMembers(ctx, "gA")
	if err != nil || len(ms) != 1 || ms[0].Failure.State != "acknowledged" || !ms[0].AddedAt.Equal(t0) {
		t.Fatalf("GroupMembers = %+v, %v", ms, err)
	}
	if ids, err := g.Members(ctx, "gA"); err != nil || len(ids) != 1 || ids[0] != "flr_1" {
		t.Fatalf("Members = %v, %v", ids, err)
	}

	gr := notify.Group{Key: "gA", Team: "digital", CreatedAt: t0, Due: t0.Add(30 * time.Second), GroupWait: 30 * time.Second}
	if err := g.SaveGroup(ctx, gr); err != nil {
		t.Fatal(err)
	}
	if err := g.SaveGroup(ctx, gr); !errors.Is(err, notify.ErrConflict) {
		t.Fatalf("creating an existing group: %v, want ErrConflict", err)
	}
	if due, err := g.Due(ctx, t0); err != nil || len(due) != 0 {
		t.Fatalf("Due before its time = %v, %v", due, err)
	}
	if due, err := g.Due(ctx, t0.Add(30*time.Second)); err != nil || len(due) != 1 || due[0] != "gA" {
		t.Fatalf("Due = %v, %v", due, err)
	}
	got, found, err := g.Group(ctx, "gA")
	if err != nil || !found || got.Version != 1 || !got.Due.Equal(gr.Due) {
		t.Fatalf("Group = %+v, %v, %v", got, found, err)
	}
	got.Due = time.Time{}
	got.Fired = 1
	if err := g.SaveGroup(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := g.SaveGroup(ctx, got); !errors.Is(err, notify.ErrConflict) {
		t.Fatalf("stale save: %v, want ErrConflict", err)
	}
	if due, err := g.Due(ctx, t0.Add(time.Hour)); err != nil || len(due) != 0 {
		t.Fatalf("a group with nothing pending is due: %v, %v", due, err)
	}

	if err := g.PutSource(ctx, f); err != nil {
		t.Fatal(err)
	}
	src, err := g.Sources(ctx)
	if err != nil || src["flr_1"]["channel"] != "ses" || src["flr_1"]["rule"] != "email.bounced" {
		t.Fatalf("Sources = %v, %v", src, err)
	}
	if err := g.DeleteSource(ctx, "flr_1"); err != nil {
		t.Fatal(err)
	}
	if src, _ := g.Sources(ctx); len(src) != 0 {
		t.Fatalf("Sources after delete = %v", src)
	}
}

func TestSilences(t *testing.T) {
	ctx := context.Background()
	client, table := failuresTable(t)
	st := notifystore.NewSilences(client, table)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sl, err := silence.New(silence.Request{Matchers: []string{"team=digital"}, Duration: "1h", CreatedBy: "ann", Comment: "maintenance"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, sl); err != nil {
		t.Fatal(err)
	}
	list, err := st.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != sl.ID || len(list[0].Matchers) != 1 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	exp, err := st.Expire(ctx, sl.ID, t0.Add(time.Minute))
	if err != nil || exp.State(t0.Add(time.Minute)) != silence.Expired {
		t.Fatalf("Expire = %+v, %v", exp, err)
	}
	if list, _ := st.List(ctx); list[0].State(t0.Add(time.Minute)) != silence.Expired {
		t.Fatal("expiry not stored")
	}
	if _, err := st.Expire(ctx, "sil_none", t0); !errors.Is(err, silence.ErrNotFound) {
		t.Fatalf("Expire unknown: %v", err)
	}
}

// failuresTable creates a fresh failures table, with its index, on moto.
func failuresTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	c, names := newTables(t)
	return c, names[topology.TableFailures]
}
