package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/dynamo/outboundstore"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/testclock"
	"github.com/ocxhq/ocx/internal/topology"
)

func TestOutboundDeliveries(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	st := outboundstore.NewDeliveries(c, names[topology.TableOutbound])
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	d := outbound.Delivery{ID: "msg_1", Endpoint: "crm", EventID: "ev1", EventType: "failure.detected", Body: json.RawMessage(`{"a":1}`),
		Status: outbound.StatusPending, CreatedAt: t0, RoundStarted: t0, NextAttemptAt: t0}
	create := func(x outbound.Delivery) (bool, error) {
		return st.CreateSettled(ctx, x, nil, outbound.Outcome{Status: x.Status, NextAttemptAt: x.NextAttemptAt, At: x.CreatedAt})
	}
	if ok, err := create(d); err != nil || !ok {
		t.Fatalf("create = %v, %v", ok, err)
	}
	if ok, err := create(d); err != nil || ok {
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
		if _, err := create(x); err != nil {
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
		if _, err := create(x); err != nil {
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

	// Created settled: a new delivery written once, as its first attempt
	// left it. Answered at once it is delivered and listed as such; failed
	// it is pending, indexed by its retry.
	t2 := t1.Add(time.Hour)
	y := outbound.Delivery{ID: "msg_6", Endpoint: "crm", EventID: "ev6", EventType: "failure.detected", Body: json.RawMessage(`{}`),
		Status: outbound.StatusPending, CreatedAt: t2, RoundStarted: t2, NextAttemptAt: t2}
	a := outbound.Attempt{N: 1, At: t2, Status: 204, LatencyMS: 7}
	if ok, err := st.CreateSettled(ctx, y, &a, outbound.Outcome{Status: outbound.StatusDelivered, At: t2, LastStatus: 204}); err != nil || !ok {
		t.Fatalf("create settled = %v, %v", ok, err)
	}
	if ok, err := st.CreateSettled(ctx, y, &a, outbound.Outcome{Status: outbound.StatusDelivered, At: t2.Add(time.Second), LastStatus: 204}); err != nil || ok {
		t.Fatalf("creating a settled delivery again = %v, %v", ok, err)
	}
	if got, _ := st.Get(ctx, "msg_6"); got.Status != outbound.StatusDelivered || got.Attempts != 1 || !got.DeliveredAt.Equal(t2) || !got.NextAttemptAt.IsZero() || got.LastStatus != 204 {
		t.Fatalf("created delivered: %+v", got)
	}
	if as, err := st.Attempts(ctx, "msg_6"); err != nil || len(as) != 1 || as[0].Status != 204 || as[0].LatencyMS != 7 {
		t.Fatalf("attempts of the delivery created delivered: %+v, %v", as, err)
	}
	if ds, _, _ := st.List(ctx, outbound.Query{Endpoint: "crm", Status: outbound.StatusDelivered, Limit: 10}); len(ds) == 0 || ds[0].ID != "msg_6" {
		t.Fatalf("delivered, newest first: %+v", ds)
	}
	z := y
	z.ID, z.EventID = "msg_7", "ev7"
	retry := t2.Add(5 * time.Second)
	if ok, err := st.CreateSettled(ctx, z, &outbound.Attempt{N: 1, At: t2, Status: 503}, outbound.Outcome{Status: outbound.StatusPending,
		NextAttemptAt: retry, At: t2, LastStatus: 503, LastError: "HTTP 503"}); err != nil || !ok {
		t.Fatalf("create settled pending = %v, %v", ok, err)
	}
	if ok, err := st.Claim(ctx, "msg_7", 2, t2.Add(time.Second), t2.Add(time.Hour)); err != nil || ok {
		t.Fatalf("claiming attempt 2 before its retry = %v, %v", ok, err)
	}
	if due, _, _ = st.List(ctx, outbound.Query{Endpoint: "crm", DueBy: retry, Limit: 10}); len(due) == 0 || due[len(due)-1].ID != "msg_7" {
		t.Fatalf("due by the retry = %+v; want msg_7 last", due)
	}
	if ok, err := st.Claim(ctx, "msg_7", 2, retry, t2.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("claiming attempt 2 at its retry = %v, %v", ok, err)
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

// writeLog records, in order, the writes a client is asked for (action,
// pk, sk) and the wake-ups the service schedules, so a test sees what a
// delivery costs and that its retry is arranged before its item is written.
type writeLog struct {
	mu    sync.Mutex
	got   []string
	wakes []outboundWake
	// afterWrite, when set, runs after each write that succeeded.
	afterWrite func(op string)
}

func (w *writeLog) add(op string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, op)
}

func (w *writeLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.got
	w.got = nil
	return out
}

func (w *writeLog) middleware(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("log-writes", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		var op string
		switch p := in.Parameters.(type) {
		case *dynamodb.PutItemInput:
			op = "PutItem " + dynamo.GetS(p.Item, topology.PK) + " " + dynamo.GetS(p.Item, topology.SK)
		case *dynamodb.UpdateItemInput:
			op = "UpdateItem " + dynamo.GetS(p.Key, topology.PK) + " " + dynamo.GetS(p.Key, topology.SK)
		case *dynamodb.DeleteItemInput:
			op = "DeleteItem " + dynamo.GetS(p.Key, topology.PK) + " " + dynamo.GetS(p.Key, topology.SK)
		case *dynamodb.TransactWriteItemsInput:
			op = "TransactWriteItems"
		case *dynamodb.BatchWriteItemInput:
			op = "BatchWriteItem"
		}
		if op != "" {
			w.add(op)
		}
		out, md, err := next.HandleInitialize(ctx, in)
		if op != "" && err == nil && w.afterWrite != nil {
			w.afterWrite(op)
		}
		return out, md, err
	}), middleware.Before)
}

// Schedule is the service's wake-ups: logged with the writes.
func (w *writeLog) Schedule(_ context.Context, key string, at time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, "Schedule "+key)
	w.wakes = append(w.wakes, outboundWake{key, at})
	return nil
}

type outboundWake struct {
	key string
	at  time.Time
}

type outboundSecrets []string

func (s outboundSecrets) List(context.Context, string) ([]string, error) { return s, nil }

type outboundNoop struct{}

func (outboundNoop) SendJSON(context.Context, any) error  { return nil }
func (outboundNoop) Count(string, int, map[string]string) {}

// outboundWorld is the outbound service on the emulator's table through a
// client whose writes are logged, sending to a real HTTP receiver.
type outboundWorld struct {
	svc       *outbound.Service
	endpoints *outboundstore.Endpoints
	log       *writeLog
	clock     *testclock.Clock
	requests  atomic.Int32

	mu  sync.Mutex
	got []string // webhook-ids received, in order
}

// ids are the webhook-ids the receiver got, in order.
func (w *outboundWorld) ids() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.got)
}

func newOutboundWorld(t *testing.T) *outboundWorld {
	t.Helper()
	_, names := newTables(t)
	w := &outboundWorld{log: &writeLog{}, clock: testclock.New(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))}
	c := dynamodb.NewFromConfig(mototest.Config(t), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, w.log.middleware)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.requests.Add(1)
		w.mu.Lock()
		w.got = append(w.got, r.Header.Get(outbound.HeaderID))
		w.mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	table := names[topology.TableOutbound]
	w.endpoints = outboundstore.NewEndpoints(c, table)
	w.svc = &outbound.Service{
		Subscriptions: []outbound.Subscription{{ID: "crm", URL: srv.URL, URLTemplate: srv.URL, Pattern: `{"source":["ocx.rules"]}`, Secret: "crm"}},
		Deliveries:    outboundstore.NewDeliveries(c, table), Endpoints: w.endpoints,
		Secrets: outboundSecrets{outbound.EncodeSecret([]byte("a-test-key-of-32-bytes-for-tests"))},
		Client:  srv.Client(), Wakeups: w.log, Dead: outboundNoop{}, Metrics: outboundNoop{},
		Now: w.clock.Now, Rand: func() float64 { return 0.5 }, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return w
}

func (w *outboundWorld) event(id string) events.Envelope {
	return events.Envelope{Version: "0", ID: id, DetailType: "failure.detected", Source: "ocx.rules", Account: "000000000000",
		Region: "eu-west-1", Time: w.clock.Now(), Resources: []string{}, Detail: json.RawMessage(`{"id":"fail_` + id + `"}`)}
}

// A delivery answered at once is written once, as its first attempt left
// it (beside it that attempt's record, written first), with no claim and
// no wake-up. A delivery for a disabled endpoint is written once, failed,
// with no wake-up and no request.
func TestOutboundDeliveredAtOnceWritesItsDeliveryOnce(t *testing.T) {
	ctx := context.Background()
	w := newOutboundWorld(t)
	for i, ev := range []string{"ev1", "ev2"} {
		if err := w.svc.Handle(ctx, w.event(ev)); err != nil {
			t.Fatal(err)
		}
		id := outbound.DeliveryID("crm", ev)
		item := "delivery#" + id + " delivery"
		want := []string{"PutItem delivery#" + id + " attempt#00001", "PutItem " + item}
		if i == 0 {
			// The endpoint's first success is written; later ones at
			// most once per outbound.HealthyRefresh.
			want = append(want, "UpdateItem endpoint#crm state")
		}
		if got := w.log.take(); !slices.Equal(got, want) {
			t.Fatalf("%s: writes\n%s\nwant\n%s", ev, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		d, err := w.svc.Deliveries.Get(ctx, id)
		if err != nil || d.Status != outbound.StatusDelivered || d.Attempts != 1 || d.LastStatus != http.StatusNoContent || !d.NextAttemptAt.IsZero() {
			t.Fatalf("%s: %+v, %v", ev, d, err)
		}
		if as, err := w.svc.Deliveries.Attempts(ctx, id); err != nil || len(as) != 1 || as[0].N != 1 || as[0].Status != http.StatusNoContent {
			t.Fatalf("%s: attempts %+v, %v", ev, as, err)
		}
	}
	if n := w.requests.Load(); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}

	if _, err := w.endpoints.Disable(ctx, "crm", w.clock.Now(), "down"); err != nil {
		t.Fatal(err)
	}
	w.log.take()
	if err := w.svc.Handle(ctx, w.event("ev3")); err != nil {
		t.Fatal(err)
	}
	id := outbound.DeliveryID("crm", "ev3")
	if got, want := w.log.take(), []string{"PutItem delivery#" + id + " delivery"}; !slices.Equal(got, want) {
		t.Fatalf("disabled endpoint: writes %q, want %q", got, want)
	}
	d, err := w.svc.Deliveries.Get(ctx, id)
	if err != nil || d.Status != outbound.StatusFailed || d.Attempts != 0 || d.LastError != "endpoint disabled" || w.requests.Load() != 2 {
		t.Fatalf("disabled endpoint: %+v, %v, %d requests", d, err, w.requests.Load())
	}
}

// An invocation that dies between a new delivery's first attempt and its
// record leaves nothing but that attempt's record: the event's retry finds
// no delivery and sends it again under the same webhook-id, and records it
// once.
func TestOutboundDeliveryInterruptedBeforeItsRecordIsSentAgainByItsEvent(t *testing.T) {
	w := newOutboundWorld(t)
	id := outbound.DeliveryID("crm", "ev1")
	ctx, die := context.WithCancel(context.Background())
	defer die()
	w.log.afterWrite = func(op string) {
		if op == "PutItem delivery#"+id+" attempt#00001" {
			die()
		}
	}
	ev := w.event("ev1")
	if err := w.svc.Handle(ctx, ev); err == nil {
		t.Fatal("the interrupted invocation reported success")
	}
	w.log.afterWrite = nil
	// The delivery's write is tried, on the dead context, and fails.
	if got := w.log.take(); !slices.Equal(got, []string{"PutItem delivery#" + id + " attempt#00001", "PutItem delivery#" + id + " delivery"}) {
		t.Fatalf("writes %q: want the attempt's record, then the delivery's", got)
	}
	ctx = context.Background()
	if _, err := w.svc.Deliveries.Get(ctx, id); !errors.Is(err, outbound.ErrNotFound) || w.requests.Load() != 1 {
		t.Fatalf("after the interruption: %v, %d requests; want no delivery and one request", err, w.requests.Load())
	}
	if err := w.svc.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	d, err := w.svc.Deliveries.Get(ctx, id)
	if err != nil || d.Status != outbound.StatusDelivered || d.Attempts != 1 || w.requests.Load() != 2 {
		t.Fatalf("after the event's retry: %+v, %v, %d requests", d, err, w.requests.Load())
	}
	if ids := w.ids(); len(ids) != 2 || ids[0] != id || ids[1] != id {
		t.Fatalf("webhook-ids sent %q: want %s twice", ids, id)
	}
	if as, _ := w.svc.Deliveries.Attempts(ctx, id); len(as) != 1 || as[0].N != 1 || as[0].Status != http.StatusNoContent {
		t.Fatalf("attempts %+v: want attempt 1, delivered", as)
	}
	// Redelivered once more: recorded, so nothing is sent.
	if err := w.svc.Handle(ctx, ev); err != nil || w.requests.Load() != 2 {
		t.Fatalf("a redelivery of a delivered event: %v, %d requests", err, w.requests.Load())
	}
}
