// Package api serves analysts: the metric catalog, metric series (JSON or
// CSV), the OpenAPI document and the health check.
package api

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpjson"
	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/rollup"
)

// MaxPoints bounds one response (buckets × groups), so a careless query
// cannot read years of hours.
const MaxPoints = 5000

// openAPIgz is openapi.json compressed: the document is 75 KB of JSON,
// which the api binary would otherwise carry whole within its size
// budget. TestOpenAPICompressedIsTheDocument keeps it equal to the source.
//
//go:embed openapi.json.gz
var openAPIgz []byte

// OpenAPI returns the API's OpenAPI 3 document, served at /v1/openapi.json.
var OpenAPI = sync.OnceValue(func() []byte {
	zr, err := gzip.NewReader(bytes.NewReader(openAPIgz))
	if err != nil {
		panic("embedded openapi.json.gz: " + err.Error()) // checked by the tests
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		panic("embedded openapi.json.gz: " + err.Error())
	}
	return b
})

// Server is the analyst API.
type Server struct {
	Cubes rollup.CubeReader
	// Attributes are the configured customer-attribute dimensions.
	Attributes []string
	Guard      httpauth.Guard
	Now        func() time.Time
	Log        *slog.Logger
	// Ready are the dependencies /healthz checks: it answers 200 only when
	// every one answers within ReadyTimeout.
	Ready []Check
}

// Check is one dependency readiness probes: Probe returns nil when it
// answers.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// ReadyTimeout bounds each readiness probe: a dependency slower than this
// is as good as down for a webhook sender.
const ReadyTimeout = 3 * time.Second

// Readiness is the body of a healthy GET /healthz.
type Readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// Routes registers the API's handlers on mux.
func (s *Server) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Vary", "Accept-Encoding")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(openAPIgz)
			return
		}
		_, _ = w.Write(OpenAPI())
	})
	mux.Handle("GET /v1/metrics", s.Guard.Wrap(http.HandlerFunc(s.catalog)))
	mux.Handle("GET /v1/metrics/{name}", s.Guard.Wrap(http.HandlerFunc(s.metric)))
}

// healthz is readiness: every dependency in s.Ready answers, in parallel,
// each within ReadyTimeout; otherwise 503 naming what does not.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	results := make([]error, len(s.Ready))
	var wg sync.WaitGroup
	for i, c := range s.Ready {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
			defer cancel()
			results[i] = c.Probe(ctx)
		})
	}
	wg.Wait()
	checks := map[string]string{}
	var down []string
	for i, c := range s.Ready {
		checks[c.Name] = "ok"
		if err := results[i]; err != nil {
			checks[c.Name] = "down"
			down = append(down, c.Name)
			s.Log.Error("readiness check failed", "check", c.Name, "err", err)
		}
	}
	if len(down) > 0 {
		w.Header().Set("Retry-After", "5")
		httpjson.Error(w, http.StatusServiceUnavailable, "not ready: "+strings.Join(down, ", ")+" did not answer")
		return
	}
	httpjson.Write(w, http.StatusOK, Readiness{Status: "ok", Checks: checks})
}

// CatalogResponse is the body of GET /v1/metrics.
type CatalogResponse struct {
	Metrics       []metric.Metric `json:"metrics"`
	Granularities []string        `json:"granularities"`
	MaxPoints     int             `json:"max_points"`
}

func (s *Server) catalog(w http.ResponseWriter, r *http.Request) {
	ms := metric.Catalog(s.Attributes)
	if wantsCSV(r) {
		rows := [][]string{{"name", "kind", "unit", "dimensions", "formula", "description"}}
		for _, m := range ms {
			rows = append(rows, []string{m.Name, string(m.Kind), m.Unit, strings.Join(m.Dimensions, " "), m.Formula, m.Description})
		}
		writeCSV(w, "metrics.csv", rows)
		return
	}
	httpjson.Write(w, http.StatusOK, CatalogResponse{Metrics: ms, Granularities: rollup.Granularities, MaxPoints: MaxPoints})
}

// Group is one group's series.
type Group struct {
	Group  map[string]string `json:"group"`
	Points []metric.Point    `json:"points"`
}

// SeriesResponse is the body of GET /v1/metrics/{name}: Points without
// group_by, Groups with it.
type SeriesResponse struct {
	Metric      string              `json:"metric"`
	Unit        string              `json:"unit"`
	Granularity string              `json:"granularity"`
	TZ          string              `json:"tz"`
	From        time.Time           `json:"from"`
	To          time.Time           `json:"to"`
	Filters     map[string][]string `json:"filters,omitempty"`
	GroupBy     []string            `json:"group_by,omitempty"`
	Points      []metric.Point      `json:"points,omitempty"`
	Groups      *[]Group            `json:"groups,omitempty"`
}

func (s *Server) metric(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	m, ok := metric.Lookup(name, s.Attributes)
	if !ok {
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("unknown metric %q; known: %s (GET /v1/metrics describes them)", name, strings.Join(metric.Names(), ", ")))
		return
	}
	req, err := parseRequest(r.URL.Query(), m, s.Now())
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	ans, err := rollup.Reader{Cubes: s.Cubes}.Query(r.Context(), req)
	var br *rollup.BadRequest
	switch {
	case errors.As(err, &br):
		httpjson.Error(w, http.StatusBadRequest, br.Msg)
		return
	case err != nil:
		s.Log.Error("read series", "metric", name, "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "could not read the series; try again")
		return
	}
	loc := req.Location
	res := SeriesResponse{Metric: m.Name, Unit: m.Unit, Granularity: req.Granularity, TZ: loc.String(), GroupBy: req.GroupBy}
	if len(req.Filters) > 0 {
		res.Filters = req.Filters
	}
	if n := len(ans.Buckets); n > 0 {
		res.From, res.To = ans.Buckets[0].Start.In(loc), ans.Buckets[n-1].End.In(loc)
	}
	for _, sr := range ans.Series {
		for i := range sr.Points {
			sr.Points[i].Start = sr.Points[i].Start.In(loc)
		}
	}
	if len(req.GroupBy) == 0 {
		res.Points = ans.Series[0].Points
	} else {
		groups := make([]Group, len(ans.Series))
		for i, sr := range ans.Series {
			groups[i] = Group{Group: sr.Group, Points: sr.Points}
		}
		res.Groups = &groups
	}
	if wantsCSV(r) {
		writeCSV(w, m.Name+"-"+req.Granularity+".csv", seriesCSV(m, req.GroupBy, ans.Series, loc))
		return
	}
	httpjson.Write(w, http.StatusOK, res)
}

// params that are not dimension filters.
var params = []string{"from", "to", "granularity", "tz", "group_by"}

// defaultSpan is the range asked for when from is not given.
var defaultSpan = map[string]func(time.Time) time.Time{
	rollup.Hour:  func(t time.Time) time.Time { return t.AddDate(0, 0, -7) },
	rollup.Day:   func(t time.Time) time.Time { return t.AddDate(0, 0, -7) },
	rollup.Week:  func(t time.Time) time.Time { return t.AddDate(0, 0, -7*12) },
	rollup.Month: func(t time.Time) time.Time { return t.AddDate(0, -12, 0) },
}

// parseRequest reads the query: from and to (RFC 3339, or a date taken
// as midnight in tz; default the last 7 days up to now), granularity
// (default day), tz (an IANA zone, default UTC), group_by (comma-
// separated dimensions) and any dimension as a filter (comma-separated
// values, any of which may match).
func parseRequest(v url.Values, m metric.Metric, now time.Time) (rollup.Request, error) {
	q := rollup.Request{Metric: m, Granularity: v.Get("granularity"), Now: now, MaxPoints: MaxPoints, Location: time.UTC}
	if q.Granularity == "" {
		q.Granularity = rollup.Day
	}
	span, ok := defaultSpan[q.Granularity]
	if !ok {
		return q, fmt.Errorf("granularity %q: want one of %s", q.Granularity, strings.Join(rollup.Granularities, ", "))
	}
	if tz := v.Get("tz"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "Local" {
			return q, fmt.Errorf("tz %q: want an IANA time zone such as Europe/Paris or America/New_York", tz)
		}
		q.Location = loc
	}
	q.To = now
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"to", &q.To}, {"from", &q.From}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			if t, err = time.ParseInLocation(time.DateOnly, s, q.Location); err != nil {
				return q, fmt.Errorf("%s %q: want RFC 3339, e.g. 2026-11-23T00:00:00Z, or a date, 2026-11-23 (midnight in tz)", p.name, s)
			}
		}
		*p.dst = t
	}
	if q.From.IsZero() {
		q.From = span(q.To)
	}
	if g := v.Get("group_by"); g != "" {
		for _, d := range strings.Split(g, ",") {
			if d = strings.TrimSpace(d); d != "" {
				q.GroupBy = append(q.GroupBy, d)
			}
		}
	}
	for k, vs := range v {
		if slices.Contains(params, k) {
			continue
		}
		if !slices.Contains(m.Dimensions, k) {
			return q, fmt.Errorf("unknown parameter or dimension %q for %s; parameters: %s; dimensions: %s",
				k, m.Name, strings.Join(params, ", "), strings.Join(m.Dimensions, ", "))
		}
		if q.Filters == nil {
			q.Filters = map[string][]string{}
		}
		for _, s := range vs {
			for _, x := range strings.Split(s, ",") {
				q.Filters[k] = append(q.Filters[k], strings.TrimSpace(x))
			}
		}
	}
	return q, nil
}
