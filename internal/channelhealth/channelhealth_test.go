package channelhealth

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/httpauth"
)

var now = time.Date(2026, 11, 23, 8, 30, 20, 0, time.UTC)

// memTallies holds tallies by channel and sums them as the store does.
type memTallies struct {
	tallies []events.IntakeTally
	last    map[string]time.Time
}

func (m memTallies) Window(_ context.Context, ch string, from, to time.Time) (Counts, error) {
	var c Counts
	for _, t := range m.tallies {
		if t.Channel == ch && !t.OccurredAt.Before(from) && t.OccurredAt.Before(to) {
			c.Add(t)
		}
	}
	return c, nil
}

func (m memTallies) LastAccepted(_ context.Context, ch string) (time.Time, error) {
	return m.last[ch], nil
}

type memFailures map[string][]events.Failure

func (m memFailures) List(_ context.Context, f failure.Filter, _ string, _ int) ([]events.Failure, string, error) {
	return m[f.State], "", nil
}

func TestChannelHealth(t *testing.T) {
	m0 := now.Truncate(time.Minute)
	s := &Service{
		Channels: []Channel{{ID: "app", Kind: "standardwebhooks"}, {ID: "stripe", Kind: "stripe"}},
		Tallies: memTallies{tallies: []events.IntakeTally{
			{Channel: "app", OccurredAt: m0, Accepted: 2, Events: 3},
			{Channel: "app", OccurredAt: m0.Add(-30 * time.Minute), RejectedSignature: 9},
			{Channel: "app", OccurredAt: m0.Add(-2 * time.Hour), Accepted: 1000},
			{Channel: "stripe", OccurredAt: m0.Add(-10 * time.Minute), RejectedSignature: 12},
		}, last: map[string]time.Time{"app": m0.Add(5 * time.Second)}},
		Failures: memFailures{
			failure.Open: {{ID: "flr_1", RuleID: "intake.signature_rejected", Severity: "critical", DetectedAt: m0,
				Evidence: []events.Evidence{{Channel: "stripe"}, {Channel: "stripe"}}}},
			failure.Acknowledged: {{ID: "flr_2", RuleID: "email.bounce_rate", Severity: "critical", Evidence: []events.Evidence{{Channel: "sendgrid"}}}},
		},
		Now: func() time.Time { return now },
		Log: slog.New(slog.DiscardHandler),
	}
	mux := http.NewServeMux()
	Routes(mux, s, httpauth.Guard{Token: "tok"})
	get := func(path string, out any) int {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer tok")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if out != nil && w.Code == 200 {
			if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
				t.Fatal(err)
			}
		}
		return w.Code
	}
	var page Page
	if code := get("/v1/channels", &page); code != 200 || len(page.Channels) != 2 {
		t.Fatalf("list: %d %+v", code, page)
	}
	app, stripe := page.Channels[0], page.Channels[1]
	if app.Counts != (Counts{Accepted: 2, Events: 3, RejectedSignature: 9}) || app.LastAcceptedAt == nil || !app.LastAcceptedAt.Equal(m0.Add(5*time.Second)) ||
		len(app.Failures) != 0 || !app.To.Equal(m0.Add(time.Minute)) || !app.From.Equal(m0.Add(time.Minute-time.Hour)) {
		t.Fatalf("app over the default hour: %+v", app)
	}
	if stripe.LastAcceptedAt != nil || len(stripe.Failures) != 1 || stripe.Failures[0].ID != "flr_1" || stripe.Failures[0].State != failure.Open {
		t.Fatalf("stripe: %+v", stripe)
	}
	var one Health
	if code := get("/v1/channels/app?window=3h", &one); code != 200 || one.Counts.Accepted != 1002 {
		t.Fatalf("app over 3h: %d %+v", code, one)
	}
	for path, want := range map[string]int{"/v1/channels/nope": 404, "/v1/channels?window=30s": 400, "/v1/channels?window=200h": 400, "/v1/channels?window=x": 400} {
		if code := get(path, nil); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	r := httptest.NewRequest("GET", "/v1/channels", nil)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Fatalf("unauthenticated: %d", w.Code)
	}
}
