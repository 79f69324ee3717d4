// Package api serves analysts: metric series and the health check.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpjson"
	"github.com/ocxhq/ocx/internal/rollup"
)

// MaxPoints bounds one response so a careless query cannot scan years of hours.
const MaxPoints = 5000

// SeriesReader reads rolled-up series.
type SeriesReader interface {
	Series(ctx context.Context, metric, gran string, from, to time.Time) ([]rollup.Point, error)
}

// Server is the analyst API.
type Server struct {
	Series SeriesReader
	Guard  httpauth.Guard
	Now    func() time.Time
	Log    *slog.Logger
}

// Routes registers the API's handlers on mux.
func (s *Server) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /v1/metrics/{name}", s.Guard.Wrap(http.HandlerFunc(s.metric)))
}

// SeriesResponse is the body of GET /v1/metrics/{name}.
type SeriesResponse struct {
	Metric      string         `json:"metric"`
	Granularity string         `json:"granularity"`
	From        time.Time      `json:"from"`
	To          time.Time      `json:"to"`
	Points      []rollup.Point `json:"points"`
}

func (s *Server) metric(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !slices.Contains(rollup.Metrics(), name) {
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("unknown metric %q; known: %s", name, strings.Join(rollup.Metrics(), ", ")))
		return
	}
	q, err := parseQuery(r, s.Now())
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	pts, err := s.Series.Series(r.Context(), name, q.gran, q.from, q.to)
	if err != nil {
		s.Log.Error("read series", "metric", name, "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "could not read the series; try again")
		return
	}
	if pts == nil {
		pts = []rollup.Point{}
	}
	httpjson.Write(w, http.StatusOK, SeriesResponse{Metric: name, Granularity: q.gran, From: q.from, To: q.to, Points: pts})
}

type query struct {
	from, to time.Time
	gran     string
}

var step = map[string]time.Duration{rollup.Hour: time.Hour, rollup.Day: 24 * time.Hour}

// parseQuery reads from, to (RFC 3339; default the last 7 days) and
// granularity (hour|day; default day).
func parseQuery(r *http.Request, now time.Time) (query, error) {
	v := r.URL.Query()
	q := query{gran: v.Get("granularity"), to: now.UTC(), from: now.UTC().AddDate(0, 0, -7)}
	if q.gran == "" {
		q.gran = rollup.Day
	}
	st, ok := step[q.gran]
	if !ok {
		return q, fmt.Errorf("granularity %q: want hour or day", q.gran)
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.from}, {"to", &q.to}} {
		if s := v.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, fmt.Errorf("%s %q: want RFC 3339, e.g. 2026-11-23T00:00:00Z", p.name, s)
			}
			*p.dst = t.UTC()
		}
	}
	if !q.from.Before(q.to) {
		return q, fmt.Errorf("from %s must be before to %s", q.from.Format(time.RFC3339), q.to.Format(time.RFC3339))
	}
	if n := q.to.Sub(q.from) / st; n > MaxPoints {
		return q, fmt.Errorf("range holds %d %s points, over the limit of %d; narrow it or use a coarser granularity", n, q.gran, MaxPoints)
	}
	return q, nil
}
