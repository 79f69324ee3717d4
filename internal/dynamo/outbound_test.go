package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo/outboundstore"

	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/topology"
)

func TestOutboundDeliveries(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	st := outboundstore.NewDeliveries(c, names[topology.TableOutbound])
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	d := outbound.Delivery{ID: "msg_1", Endpoint: "crm", EventID: "ev1", EventType: "failure.detected", Body: json.RawMessage(`{"a":1}`),
		Status: outbound.StatusPending, CreatedAt: t0, RoundStarted: t0, NextAttemptAt: t0}
	if ok, err := st.Create(ctx, d); err != nil || !ok {
		t.Fatalf("create = %v, %v", ok, err)
	}
	if ok, err := st.Create(ctx, d); err != nil || ok {
		t.Fatalf("creating the same delivery again = %v, %v; want false: a redelivered event must not make a second delivery", ok, err)
	}
	if _, err := st.Get(ctx, "msg_nope"); !errors.Is(err, outbound.ErrNotFound) {
		t.Fatalf("unknown delivery: %v", err)
	}

	// Claims: not before it is due, once per attempt number.
	if ok, err := st.Claim(ctx, d.ID, 1, t0.Add(-time.Second), t0.Add(5*time.Second)); err != nil || ok {
		t.Fatalf("claim before due = %v, %v", ok, err)
	}
	if ok, err := st.Claim(ctx, d.ID, 1, t0, t0.Add(5*time.Second)); err != nil || !ok {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	if ok, err := st.Claim(ctx, d.ID, 1, t0.Add(time.Minute), t0.Add(time.Hour)); err != nil || ok {
		t.Fatalf("second claim of attempt 1 = %v, %v", ok, err)
	}
	a1 := outbound.Attempt{N: 1, At: t0, Status: 500, LatencyMS: 12, Response: "oops"}
	if err := st.Record(ctx, d, a1, outbound.Outcome{Status: outbound.StatusPending, NextAttemptAt: t0.Add(5 * time.Second), At: t0, LastStatus: 500, LastError: "HTTP 500"}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, d.ID)
	if err != nil || got.Status != outbound.StatusPending || got.Attempts != 1 || !got.NextAttemptAt.Equal(t0.Add(5*time.Second)) || got.LastStatus != 500 || string(got.Body) != `{"a":1}` {
		t.Fatalf("after a failed attempt: %+v, %v", got, err)
	}
	if ok, err := st.Claim(ctx, d.ID, 2, t0.Add(5*time.Second), t0.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("claim 2 = %v, %v", ok, err)
	}
	a2 := outbound.Attempt{N: 2, At: t0.Add(5 * time.Second), Status: 200, LatencyMS: 3}
	if err := st.Record(ctx, got, a2, outbound.Outcome{Status: outbound.StatusDelivered, At: a2.At, LastStatus: 200}); err != nil {
		t.Fatal(err)
	}
	got, _ = st.Get(ctx, d.ID)
	if got.Status != outbound.StatusDelivered || !got.DeliveredAt.Equal(a2.At) || !got.NextAttemptAt.IsZero() || got.LastError != "" {
		t.Fatalf("delivered: %+v", got)
	}
	as, err := st.Attempts(ctx, d.ID)
	if err != nil || len(as) != 2 || as[0].N != 1 || as[0].Status != 500 || as[0].Response != "oops" || as[1].Status != 200 || as[1].LatencyMS != 3 {
		t.Fatalf("attempts = %+v, %v", as, err)
	}

	// Two more deliveries, one failed; listing by status, newest first.
	for i, id := range []string{"msg_2", "msg_3"} {
		at := t0.Add(time.Duration(i+1) * time.Minute)
		x := outbound.Delivery{ID: id, Endpoint: "crm", EventID: id, EventType: "failure.resolved", Body: json.RawMessage(`{}`),
			Status: outbound.StatusPending, CreatedAt: at, RoundStarted: at, NextAttemptAt: at}
		if _, err := st.Create(ctx, x); err != nil {
			t.Fatal(err)
		}
		if err := st.Fail(ctx, x, at, "endpoint disabled"); err != nil {
			t.Fatal(err)
		}
	}
	failed, next, err := st.List(ctx, outbound.Query{Endpoint: "crm", Status: outbound.StatusFailed, Limit: 1})
	if err != nil || len(failed) != 1 || failed[0].ID != "msg_3" || next == "" || failed[0].LastError != "endpoint disabled" {
		t.Fatalf("first page of failed = %+v, %q, %v", failed, next, err)
	}
	more, next, err := st.List(ctx, outbound.Query{Endpoint: "crm", Status: outbound.StatusFailed, Limit: 1, Cursor: next})
	if err != nil || len(more) != 1 || more[0].ID != "msg_2" {
		t.Fatalf("second page of failed = %+v, %q, %v", more, next, err)
	}
	if _, _, err := st.List(ctx, outbound.Query{Endpoint: "crm", Cursor: "garbage"}); !errors.Is(err, outbound.ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
	all, _, err := st.List(ctx, outbound.Query{Endpoint: "crm", Limit: 10})
	if err != nil || len(all) != 3 {
		t.Fatalf("all = %+v, %v", all, err)
	}

	// Reopen: a new round from now, counting attempts from where it was.
	t1 := t0.Add(time.Hour)
	if ok, err := st.Reopen(ctx, failed[0], t1); err != nil || !ok {
		t.Fatalf("reopen = %v, %v", ok, err)
	}
	if ok, err := st.Reopen(ctx, failed[0], t1); err != nil || ok {
		t.Fatalf("reopening a pending delivery = %v, %v", ok, err)
	}
	r, _ := st.Get(ctx, "msg_3")
	if r.Status != outbound.StatusPending || !r.RoundStarted.Equal(t1) || !r.NextAttemptAt.Equal(t1) || r.Replays != 1 || !r.FailedAt.IsZero() {
		t.Fatalf("reopened: %+v", r)
	}
	if ps, _, _ := st.List(ctx, outbound.Query{Endpoint: "crm", Status: outbound.StatusPending, Limit: 10}); len(ps) != 1 || ps[0].ID != "msg_3" {
		t.Fatalf("pending after reopen: %+v", ps)
	}

	// The sweep's view: pending deliveries due by an instant, soonest first.
	for i, id := range []string{"msg_4", "msg_5"} {
		at := t1.Add(time.Duration(2-i) * time.Minute) // msg_5 falls due first
		x := outbound.Delivery{ID: id, Endpoint: "crm", EventID: id, EventType: "failure.detected", Body: json.RawMessage(`{}`),
			Status: outbound.StatusPending, CreatedAt: t1, RoundStarted: t1, NextAttemptAt: at}
		if _, err := st.Create(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	due, _, err := st.List(ctx, outbound.Query{Endpoint: "crm", DueBy: t1.Add(90 * time.Second), Limit: 10})
	if err != nil || len(due) != 2 || due[0].ID != "msg_3" || due[1].ID != "msg_5" {
		t.Fatalf("due by t1+90s = %+v, %v; want msg_3 (due at t1) then msg_5 (t1+1m)", due, err)
	}
	x, _ := st.Get(ctx, "msg_5")
	if err := st.Record(ctx, x, outbound.Attempt{N: 1, At: t1, Status: 503}, outbound.Outcome{Status: outbound.StatusPending,
		NextAttemptAt: t1.Add(time.Hour), At: t1, LastStatus: 503, LastError: "HTTP 503"}); err != nil {
		t.Fatal(err)
	}
	if due, _, _ = st.List(ctx, outbound.Query{Endpoint: "crm", DueBy: t1.Add(90 * time.Second), Limit: 10}); len(due) != 1 || due[0].ID != "msg_3" {
		t.Fatalf("a retried delivery is indexed by its next attempt: due = %+v", due)
	}
}

func TestOutboundEndpoints(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	st := outboundstore.NewEndpoints(c, names[topology.TableOutbound])
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	e, err := st.Get(ctx, "crm")
	if err != nil || e.Disabled || e.ConsecutiveFailures != 0 {
		t.Fatalf("an endpoint never seen: %+v, %v", e, err)
	}
	for i := range 3 {
		e, err = st.Failed(ctx, "crm", t0.Add(time.Duration(i)*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
	}
	if e.ConsecutiveFailures != 3 || !e.FailingSince.Equal(t0) {
		t.Fatalf("after three failures: %+v", e)
	}
	if err := st.Succeeded(ctx, "crm", t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	e, _ = st.Get(ctx, "crm")
	if e.ConsecutiveFailures != 0 || !e.FailingSince.IsZero() || !e.LastSuccessAt.Equal(t0.Add(4*time.Hour)) {
		t.Fatalf("a success ends the run: %+v", e)
	}
	if e, _ = st.Failed(ctx, "crm", t0.Add(5*time.Hour)); !e.FailingSince.Equal(t0.Add(5 * time.Hour)) {
		t.Fatalf("a new run starts at its first failure: %+v", e)
	}
	if ok, err := st.Disable(ctx, "crm", t0.Add(6*time.Hour), "down"); err != nil || !ok {
		t.Fatalf("disable = %v, %v", ok, err)
	}
	if ok, err := st.Disable(ctx, "crm", t0.Add(7*time.Hour), "down again"); err != nil || ok {
		t.Fatalf("disabling twice = %v, %v", ok, err)
	}
	e, _ = st.Get(ctx, "crm")
	if !e.Disabled || e.DisabledReason != "down" || !e.DisabledAt.Equal(t0.Add(6*time.Hour)) {
		t.Fatalf("disabled: %+v", e)
	}
	if err := st.Enable(ctx, "crm", t0.Add(8*time.Hour), "operator:alice"); err != nil {
		t.Fatal(err)
	}
	e, _ = st.Get(ctx, "crm")
	if e.Disabled || e.ConsecutiveFailures != 0 || !e.FailingSince.IsZero() || e.DisabledReason != "" || e.EnabledBy != "operator:alice" {
		t.Fatalf("enabled: %+v", e)
	}
}
