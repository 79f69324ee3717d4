package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/rollup"
)

type series struct {
	pts          []rollup.Point
	metric, gran string
	from, to     time.Time
}

func (s *series) Series(_ context.Context, metric, gran string, from, to time.Time) ([]rollup.Point, error) {
	s.metric, s.gran, s.from, s.to = metric, gran, from, to
	return s.pts, nil
}

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newServer(pts []rollup.Point) (http.Handler, *series) {
	sr := &series{pts: pts}
	srv := &Server{Series: sr, Guard: httpauth.Guard{Token: "secret"}, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	mux := http.NewServeMux()
	srv.Routes(mux)
	return mux, sr
}

func get(h http.Handler, url, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", url, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestMetricSeries(t *testing.T) {
	h, sr := newServer([]rollup.Point{{Start: now.Add(-time.Hour), Value: -100, N: 1}})
	w := get(h, "/v1/metrics/nps?from=2026-11-23T00:00:00Z&to=2026-11-24T00:00:00Z&granularity=hour", "secret")
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var res SeriesResponse
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Metric != "nps" || res.Granularity != "hour" || len(res.Points) != 1 || res.Points[0].Value != -100 || res.Points[0].N != 1 {
		t.Fatalf("response %+v", res)
	}
	if sr.gran != "hour" || !sr.from.Equal(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("queried %s from %s", sr.gran, sr.from)
	}
	// Defaults: the last 7 days by day; an empty series is [] not null.
	h, sr = newServer(nil)
	w = get(h, "/v1/metrics/nps", "secret")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"points":[]`) || sr.gran != "day" || !sr.to.Equal(now) {
		t.Fatalf("defaults: %d %s (%s to %s)", w.Code, w.Body, sr.gran, sr.to)
	}
}

func TestErrors(t *testing.T) {
	h, _ := newServer(nil)
	cases := []struct {
		url, token string
		status     int
		msg        string
	}{
		{"/v1/metrics/nps", "", 401, "bearer token"},
		{"/v1/metrics/nps", "wrong", 401, "bearer token"},
		{"/v1/metrics/bogus", "secret", 404, `unknown metric \"bogus\"`},
		{"/v1/metrics/nps?granularity=minute", "secret", 400, "want hour or day"},
		{"/v1/metrics/nps?from=yesterday", "secret", 400, "RFC 3339"},
		{"/v1/metrics/nps?from=2026-11-24T00:00:00Z&to=2026-11-23T00:00:00Z", "secret", 400, "must be before"},
		{"/v1/metrics/nps?from=2020-01-01T00:00:00Z&granularity=hour", "secret", 400, "over the limit"},
	}
	for _, c := range cases {
		w := get(h, c.url, c.token)
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.msg) {
			t.Errorf("%s: %d %s, want %d %q", c.url, w.Code, w.Body, c.status, c.msg)
		}
	}
	if w := get(h, "/healthz", ""); w.Code != 200 {
		t.Errorf("healthz %d", w.Code)
	}
}
