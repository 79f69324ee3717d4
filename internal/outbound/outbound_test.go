package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	swlib "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
)

// verify checks a request as a receiver would, with the Standard Webhooks
// reference library. The library checks the timestamp against the wall
// clock; the test's clock is its own, so the timestamp is compared with
// that instead.
func verify(t *testing.T, secret string, r received, now time.Time) {
	t.Helper()
	wh, err := swlib.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
		t.Fatalf("the standard-webhooks library rejects the delivery: %v (headers %v)", err, r.header)
	}
	ts, err := strconv.ParseInt(r.header.Get(HeaderTimestamp), 10, 64)
	if err != nil || time.Unix(ts, 0).Sub(now).Abs() > time.Minute {
		t.Fatalf("webhook-timestamp %q, want about %s", r.header.Get(HeaderTimestamp), now)
	}
}

func TestSignatureVerifiesWithTheReferenceLibrary(t *testing.T) {
	old, current := testSecret, EncodeSecret([]byte("a-new-key-of-32-bytes-for-tests"))
	at := time.Date(2026, 6, 17, 14, 30, 0, 0, time.UTC)
	body := []byte(`{"type":"failure.detected"}`)
	sig, err := Signature([]string{old, current}, "msg_1", at, body)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(sig, "v1,"); got != 2 {
		t.Fatalf("signature %q: want one v1 signature per secret during a rotation", sig)
	}
	h := http.Header{}
	h.Set(HeaderID, "msg_1")
	h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(HeaderSignature, sig)
	for _, secret := range []string{old, current} {
		wh, err := swlib.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
			t.Errorf("a receiver holding one secret of the rotation cannot verify: %v", err)
		}
		// The library signs too: ours must be what it computes.
		want, _ := wh.Sign("msg_1", at, body)
		if !strings.Contains(sig, want) {
			t.Errorf("signature %q lacks the library's %q", sig, want)
		}
	}
	other, _ := swlib.NewWebhook(EncodeSecret([]byte("someone-else's-key-32-bytes-long")))
	if other.VerifyIgnoringTimestamp(body, h) == nil {
		t.Error("a receiver with another secret verified the delivery")
	}
	for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_c2hvcnQ="} {
		if _, err := Signature([]string{bad}, "msg_1", at, body); err == nil {
			t.Errorf("secret %q accepted", bad)
		}
	}
}

func TestRetrySchedule(t *testing.T) {
	want := []time.Duration{5 * time.Second, 15 * time.Second, 45 * time.Second, 135 * time.Second, 405 * time.Second,
		1215 * time.Second, 3645 * time.Second, 10935 * time.Second, 32805 * time.Second, 12 * time.Hour, 12 * time.Hour}
	for i, w := range want {
		if got := Backoff(i+1, 0.5); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w)
		}
		if lo, hi := Backoff(i+1, 0), Backoff(i+1, 0.999999); lo < w*8/10 || hi > w*12/10 || lo >= hi {
			t.Errorf("Backoff(%d) jitter spans %s..%s, want within ±20%% of %s", i+1, lo, hi, w)
		}
	}
	// A delivery that always fails: tries until the deadline, the last at it.
	start := time.Date(2026, 6, 17, 14, 30, 0, 0, time.UTC)
	deadline := start.Add(MaxAge)
	at, tries := start, 1
	for {
		next, again := nextTry(at, deadline, Backoff(tries, 0.5), 0)
		if !again {
			break
		}
		at, tries = next, tries+1
	}
	if tries != 15 || !at.Equal(deadline) {
		t.Fatalf("%d tries, the last at +%s; want 15 ending at +%s", tries, at.Sub(start), MaxAge)
	}
}

func TestDeliveredOnceAfterARetry(t *testing.T) {
	f := newFixture(t, func(n int, _ []byte) (int, http.Header) {
		if n == 1 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusOK, nil
	})
	ctx := context.Background()
	ev := f.event("ev1")
	if err := f.svc.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if f.recv.count() != 1 {
		t.Fatalf("%d requests after the event, want 1", f.recv.count())
	}
	id := DeliveryID("crm", "ev1")
	d, _ := f.store.Get(ctx, id)
	if d.Status != StatusPending || d.Attempts != 1 || d.LastStatus != 500 || !d.NextAttemptAt.Equal(f.wake.last().at) {
		t.Fatalf("after a 500: %+v, wake-up %+v", d, f.wake.last())
	}
	if wait := d.NextAttemptAt.Sub(f.clock.Now()); wait < 3*time.Second || wait > 6*time.Second {
		t.Fatalf("retry in %s, want about %s", wait, FirstRetry)
	}
	// The event again (EventBridge's redelivery) and an early wake-up change nothing.
	if err := f.svc.Handle(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Wake(ctx, WakeKey(id)); err != nil {
		t.Fatal(err)
	}
	if f.recv.count() != 1 {
		t.Fatalf("a redelivered event or an early wake-up sent again: %d requests", f.recv.count())
	}
	f.wakeDue(t, id)
	d, _ = f.store.Get(ctx, id)
	if f.recv.count() != 2 || d.Status != StatusDelivered || d.Attempts != 2 {
		t.Fatalf("after the retry: %d requests, %+v", f.recv.count(), d)
	}
	// Later wake-ups (the one arranged before the successful try) do nothing.
	f.clock.Advance(time.Hour)
	for _, w := range f.wake.got {
		if err := f.svc.Wake(ctx, w.key); err != nil {
			t.Fatal(err)
		}
	}
	if f.recv.count() != 2 {
		t.Fatalf("a delivered delivery was sent again: %d requests", f.recv.count())
	}
	for _, r := range f.recv.all() {
		if r.header.Get(HeaderID) != id {
			t.Fatalf("webhook-id %q, want the same %q on every attempt", r.header.Get(HeaderID), id)
		}
		verify(t, testSecret, r, f.clock.Now().Add(-time.Hour))
		var p Payload
		if err := json.Unmarshal(r.body, &p); err != nil || p.ID != "ev1" || p.Type != "failure.detected" || p.Source != "ocx.rules" ||
			!strings.Contains(string(p.Data), `"fail_ev1"`) {
			t.Fatalf("payload %s: %v", r.body, err)
		}
	}
	as, _ := f.store.Attempts(ctx, id)
	if len(as) != 2 || as[0].Status != 500 || as[1].Status != 200 || as[0].Response != "Internal Server Error" {
		t.Fatalf("attempt log %+v", as)
	}
	if f.count.n[MetricAttempts] != 2 {
		t.Fatalf("attempts counted %v", f.count.n)
	}
}

func TestUnmatchedEventsAreNotSent(t *testing.T) {
	f := newFixture(t, func(int, []byte) (int, http.Header) { return http.StatusOK, nil })
	ev := f.event("ev1")
	ev.Source = "ocx.journey"
	if err := f.svc.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if f.recv.count() != 0 || len(f.store.d) != 0 {
		t.Fatalf("an event no subscription matches was sent (%d) or recorded (%d)", f.recv.count(), len(f.store.d))
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	f := newFixture(t, func(n int, _ []byte) (int, http.Header) {
		if n == 1 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"600"}}
		}
		return http.StatusNoContent, nil
	})
	ctx := context.Background()
	start := f.clock.Now()
	if err := f.svc.Handle(ctx, f.event("ev1")); err != nil {
		t.Fatal(err)
	}
	d, _ := f.store.Get(ctx, DeliveryID("crm", "ev1"))
	if wait := d.NextAttemptAt.Sub(start); wait < 10*time.Minute || wait > 10*time.Minute+5*time.Second {
		t.Fatalf("next attempt in %s, want the 10 minutes Retry-After asked for", wait)
	}
	if w := f.wake.last(); !w.at.Equal(d.NextAttemptAt) {
		t.Fatalf("wake-up at %s, want %s", w.at, d.NextAttemptAt)
	}
	f.clock.Advance(5 * time.Minute)
	if err := f.svc.Wake(ctx, WakeKey(d.ID)); err != nil {
		t.Fatal(err)
	}
	if f.recv.count() != 1 {
		t.Fatal("tried again before Retry-After")
	}
	f.wakeDue(t, d.ID)
	if d, _ = f.store.Get(ctx, d.ID); d.Status != StatusDelivered {
		t.Fatalf("after Retry-After: %+v", d)
	}
}

func TestGivenUpAfterThreeDaysGoesToTheDeadLetters(t *testing.T) {
	// The endpoint takes everything but one event, so it stays enabled
	// while that delivery runs through its schedule.
	f := newFixture(t, func(_ int, body []byte) (int, http.Header) {
		if strings.Contains(string(body), `"fail_poison"`) {
			return http.StatusUnprocessableEntity, nil
		}
		return http.StatusOK, nil
	})
	ctx := context.Background()
	start := f.clock.Now()
	if err := f.svc.Handle(ctx, f.event("poison")); err != nil {
		t.Fatal(err)
	}
	id := DeliveryID("crm", "poison")
	for i := 0; i < 40; i++ {
		if d, _ := f.store.Get(ctx, id); d.Status != StatusPending {
			break
		}
		f.wakeDue(t, id)
		if err := f.svc.Handle(ctx, f.event("ok"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := f.store.Get(ctx, id)
	if d.Status != StatusFailed || d.Attempts != 15 || d.LastStatus != 422 {
		t.Fatalf("after three days: %+v", d)
	}
	if took := d.FailedAt.Sub(start); took < MaxAge || took > MaxAge+time.Minute {
		t.Fatalf("given up after %s, want %s", took, MaxAge)
	}
	if len(f.dead.got) != 1 || f.dead.got[0].DeliveryID != id || f.dead.got[0].Attempts != 15 || f.count.n[MetricUndeliverable] != 1 {
		t.Fatalf("dead letters %+v, metrics %v", f.dead.got, f.count.n)
	}
	if st, _ := f.eps.Get(ctx, "crm"); st.Disabled {
		t.Fatal("an endpoint that takes other deliveries was disabled")
	}
}

func TestEndpointThatStaysDownIsDisabledAndReplayable(t *testing.T) {
	var up atomic.Bool
	f := newFixture(t, func(int, []byte) (int, http.Header) {
		if up.Load() {
			return http.StatusOK, nil
		}
		return http.StatusBadGateway, nil
	})
	ctx := context.Background()
	start := f.clock.Now()
	if err := f.svc.Handle(ctx, f.event("ev1")); err != nil {
		t.Fatal(err)
	}
	id := DeliveryID("crm", "ev1")
	for i := 0; i < 40; i++ {
		if st, _ := f.eps.Get(ctx, "crm"); st.Disabled {
			break
		}
		f.wakeDue(t, id)
	}
	st, _ := f.eps.Get(ctx, "crm")
	if !st.Disabled || st.ConsecutiveFailures < DisableMinFailures {
		t.Fatalf("endpoint after a long run of failures: %+v", st)
	}
	if took := st.DisabledAt.Sub(start); took < DisableAfter || took > MaxAge {
		t.Fatalf("disabled after %s, want between %s and %s", took, DisableAfter, MaxAge)
	}
	if d, _ := f.store.Get(ctx, id); d.Status != StatusFailed || !strings.Contains(d.LastError, "endpoint disabled") {
		t.Fatalf("the delivery of a disabled endpoint: %+v", d)
	}
	if f.count.n[MetricDisabled] != 1 {
		t.Fatalf("metrics %v", f.count.n)
	}
	// While disabled, new events are recorded failed without a request.
	sent := f.recv.count()
	if err := f.svc.Handle(ctx, f.event("ev2")); err != nil {
		t.Fatal(err)
	}
	if f.recv.count() != sent {
		t.Fatal("a disabled endpoint was sent a delivery")
	}
	failed, _, _ := f.store.List(ctx, Query{Endpoint: "crm", Status: StatusFailed})
	if len(failed) != 2 {
		t.Fatalf("failed deliveries %+v", failed)
	}
	if _, _, err := f.admin.ReplayFailed(ctx, "crm"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("replay to a disabled endpoint: %v", err)
	}
	// The operator fixes it, enables it and replays what failed.
	up.Store(true)
	if _, err := f.admin.Enable(ctx, "crm", "operator"); err != nil {
		t.Fatal(err)
	}
	n, more, err := f.admin.ReplayFailed(ctx, "crm")
	if err != nil || n != 2 || more {
		t.Fatalf("replay-failed = %d, %v, %v", n, more, err)
	}
	for _, ev := range []string{"ev1", "ev2"} {
		d, _ := f.store.Get(ctx, DeliveryID("crm", ev))
		if d.Status != StatusDelivered || d.Replays != 1 {
			t.Fatalf("%s after replay: %+v", ev, d)
		}
	}
	if f.recv.count() != sent+2 {
		t.Fatalf("%d requests after the replay, want %d", f.recv.count(), sent+2)
	}
	// Replaying one delivered delivery sends it once more.
	if _, err := f.admin.Replay(ctx, DeliveryID("crm", "ev1")); err != nil {
		t.Fatal(err)
	}
	if f.recv.count() != sent+3 {
		t.Fatalf("%d requests after replaying one, want %d", f.recv.count(), sent+3)
	}
	if _, err := f.admin.Replay(ctx, "msg_unknown"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replaying an unknown delivery: %v", err)
	}
	if _, err := f.admin.Enable(ctx, "nope", "operator"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("enabling an unknown endpoint: %v", err)
	}
}

func TestShippedSubscriptionsLoad(t *testing.T) {
	subs, err := Load(config.Shipped, File, func(k string) string {
		if k == "OCX_OUTBOUND_URL" {
			return "https://hooks.example.com/ocx"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 || subs[0].ID != "failures" || subs[0].URL != "https://hooks.example.com/ocx" || !subs[0].Active() || subs[0].Secret != "failures" {
		t.Fatalf("shipped subscriptions %+v", subs)
	}
	subs, err = Load(config.Shipped, File, func(string) string { return "" })
	if err != nil || subs[0].Active() {
		t.Fatalf("with OCX_OUTBOUND_URL unset the subscription is inactive: %+v, %v", subs, err)
	}
}

func TestLoadReportsFileAndLine(t *testing.T) {
	fsys := fstest.MapFS{File: {Data: []byte(`subscriptions:
  - id: ok
    url: https://a.example/x
    pattern: {source: [ocx.rules]}
    secret: ok
  - id: Bad_Id
    url: ftp://a.example
    pattern: {source: ocx.rules}
    secret: ""
  - id: ok
    pattern: {}
    secret: s
`)}}
	_, err := Load(fsys, File, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`outbound.yaml:6: id "Bad_Id"`, `outbound.yaml:7: url "ftp://a.example"`, "outbound.yaml:8: pattern", `outbound.yaml:9: secret ""`,
		`outbound.yaml:10: subscription "ok" defined twice`, "outbound.yaml:10: url is required", "outbound.yaml:11: pattern",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if subs, err := Load(fstest.MapFS{}, File, nil); err != nil || subs != nil {
		t.Fatalf("no file: %v, %v", subs, err)
	}
}

func TestSweepTriesDeliveriesWhoseWakeUpWasLost(t *testing.T) {
	f := newFixture(t, func(n int, _ []byte) (int, http.Header) {
		if n == 1 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusOK, nil
	})
	ctx := context.Background()
	if err := f.svc.Handle(ctx, f.event("ev1")); err != nil {
		t.Fatal(err)
	}
	id := DeliveryID("crm", "ev1")
	sweep := events.Envelope{Source: events.TickSource, DetailType: events.TickType, Detail: json.RawMessage("{}")}
	// The retry's wake-up never comes. Just past the retry, the wake-up
	// still has its grace; past that, the sweep tries it.
	d, _ := f.store.Get(ctx, id)
	f.clock.Set(d.NextAttemptAt.Add(SweepGrace / 2))
	if err := f.svc.Handle(ctx, sweep); err != nil {
		t.Fatal(err)
	}
	if f.recv.count() != 1 {
		t.Fatal("the sweep took a delivery its wake-up could still bring")
	}
	f.clock.Set(d.NextAttemptAt.Add(SweepGrace + time.Second))
	if err := f.svc.Handle(ctx, sweep); err != nil {
		t.Fatal(err)
	}
	if d, _ = f.store.Get(ctx, id); f.recv.count() != 2 || d.Status != StatusDelivered {
		t.Fatalf("after the sweep: %d requests, %+v", f.recv.count(), d)
	}
	if err := f.svc.Handle(ctx, sweep); err != nil || f.recv.count() != 2 {
		t.Fatalf("a second sweep sent again (%d requests): %v", f.recv.count(), err)
	}
}

// A healthy endpoint's last success is written at most once per
// HealthyRefresh, not on every delivery; a success after a failure is
// written at once, clearing the failure count.
func TestHealthyEndpointWrittenOncePerRefresh(t *testing.T) {
	fail := false
	f := newFixture(t, func(int, []byte) (int, http.Header) {
		if fail {
			return http.StatusBadGateway, nil
		}
		return http.StatusOK, nil
	})
	ctx := context.Background()
	for i := range 5 {
		if err := f.svc.Handle(ctx, f.event(fmt.Sprint("burst", i))); err != nil {
			t.Fatal(err)
		}
	}
	if f.recv.count() != 5 || f.eps.successes != 1 {
		t.Fatalf("%d deliveries, %d success writes; want 5 and 1", f.recv.count(), f.eps.successes)
	}
	f.clock.Advance(HealthyRefresh)
	if err := f.svc.Handle(ctx, f.event("later")); err != nil {
		t.Fatal(err)
	}
	if f.eps.successes != 2 {
		t.Fatalf("%d success writes a refresh later, want 2", f.eps.successes)
	}
	fail = true
	if err := f.svc.Handle(ctx, f.event("down")); err != nil {
		t.Fatal(err)
	}
	fail = false
	if err := f.svc.Handle(ctx, f.event("back")); err != nil {
		t.Fatal(err)
	}
	st, _ := f.eps.Get(ctx, "crm")
	if f.eps.successes != 3 || st.ConsecutiveFailures != 0 || !st.FailingSince.IsZero() {
		t.Fatalf("after a failure then a success: %d success writes, state %+v", f.eps.successes, st)
	}
}
