package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/rollup"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newServer serves a store holding a few counted events.
func newServer(t *testing.T) http.Handler {
	t.Helper()
	st := rollup.NewMemoryStore()
	tally := &rollup.Tally{Store: st, Attributes: []string{"plan"}, Now: func() time.Time { return now }, Log: quiet}
	send := func(source, typ string, v any) {
		b, _ := json.Marshal(v)
		if err := tally.Count(context.Background(), events.Envelope{ID: "e", Source: source, DetailType: typ, Detail: b}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 11, 23, 8, 10, 0, 0, time.UTC)
	for i, score := range []int{3, 6, 7, 9, 10} {
		channel := []string{"app", "typeform"}[i%2]
		send(events.SourceIngest, events.TypeSurveyResponded, events.Interaction{ID: "s" + strconv.Itoa(i), Type: events.TypeSurveyResponded, Channel: channel,
			OccurredAt: at.Add(time.Duration(i) * time.Hour), Customer: events.Customer{ID: "u" + strconv.Itoa(i)},
			Attributes: map[string]any{"survey": "nps", "score": float64(score), "plan": "pro"}})
	}
	stalled := events.Failure{ID: "flr_1", RuleID: "journey.stalled", Team: "logistics", Severity: "warning", DetectedAt: at,
		Labels:  map[string]string{"channel": "shopify"},
		History: []events.FailureStep{{State: "open", At: at}, {State: "acknowledged", At: at.Add(90 * time.Second)}}}
	send(events.SourceRules, events.TypeFailureDetected, stalled)
	send(events.SourceRules, events.TypeFailureAcknowledged, stalled)
	if _, err := (&rollup.Service{Store: st, Log: quiet}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := &Server{Cubes: st, Attributes: []string{"plan"}, Guard: httpauth.Guard{Token: "secret"}, Now: func() time.Time { return now }, Log: quiet}
	mux := http.NewServeMux()
	srv.Routes(mux)
	return mux
}

func get(h http.Handler, url, token, accept string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", url, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestMetricSeries(t *testing.T) {
	h := newServer(t)
	w := get(h, "/v1/metrics/nps?from=2026-11-23T00:00:00Z&to=2026-11-24T00:00:00Z&granularity=day", "secret", "")
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var res SeriesResponse
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	// 9 and 10 promote, 3 and 6 detract, 7 is passive: 0 from 5 answers.
	if res.Metric != "nps" || len(res.Points) != 1 || res.Points[0].Value != 0 || res.Points[0].N != 5 || !res.Points[0].LowSample || res.Groups != nil {
		t.Fatalf("response %s", w.Body)
	}
	// Grouped and cut in Paris: the same answers by channel, a bucket
	// starting at 23:00 UTC.
	w = get(h, "/v1/metrics/nps?from=2026-11-23&to=2026-11-24&tz=Europe/Paris&group_by=channel", "secret", "")
	res = SeriesResponse{}
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.Groups == nil {
		t.Fatalf("grouped: %d %s", w.Code, w.Body)
	}
	got := map[string]metric.Point{}
	for _, g := range *res.Groups {
		got[g.Group["channel"]] = g.Points[0]
	}
	if got["app"].N != 3 || got["typeform"].N != 2 || got["typeform"].Value != 0 || got["typeform"].Parts["detractors"] != 1 || !strings.Contains(w.Body.String(), `"start":"2026-11-23T00:00:00+01:00"`) {
		t.Fatalf("grouped: %s", w.Body)
	}
	// Defaults: the last 7 days by day, in UTC; undefined values are null.
	w = get(h, "/v1/metrics/nps", "secret", "")
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != 200 || len(res.Points) != 8 || !strings.Contains(w.Body.String(), `"value":null`) || res.TZ != "UTC" {
		t.Fatalf("defaults: %d %s", w.Code, w.Body)
	}
	// MTTA: one failure acknowledged after 90 s.
	w = get(h, "/v1/metrics/mtta?from=2026-11-23&to=2026-11-24&rule=journey.stalled", "secret", "")
	if !strings.Contains(w.Body.String(), `"value":90,"n":1`) || !strings.Contains(w.Body.String(), `"mean":90`) {
		t.Fatalf("mtta: %s", w.Body)
	}
	// The catalog lists the configured attribute as a dimension.
	w = get(h, "/v1/metrics", "secret", "")
	var cat CatalogResponse
	if err := json.Unmarshal(w.Body.Bytes(), &cat); err != nil || len(cat.Metrics) != len(metric.Names()) || !strings.Contains(w.Body.String(), `"dimensions":["channel","plan"]`) {
		t.Fatalf("catalog: %d %s", w.Code, w.Body)
	}
}

func TestErrors(t *testing.T) {
	h := newServer(t)
	cases := []struct {
		url, token string
		status     int
		msg        string
	}{
		{"/v1/metrics/nps", "", 401, "bearer token"},
		{"/v1/metrics/nps", "wrong", 401, "bearer token"},
		{"/v1/metrics", "", 401, "bearer token"},
		{"/v1/metrics/bogus", "secret", 404, `unknown metric \"bogus\"`},
		{"/v1/metrics/nps?granularity=minute", "secret", 400, "want one of hour, day, week, month"},
		{"/v1/metrics/nps?from=yesterday", "secret", 400, "RFC 3339"},
		{"/v1/metrics/nps?from=2026-11-24T00:00:00Z&to=2026-11-23T00:00:00Z", "secret", 400, "must be before"},
		{"/v1/metrics/nps?from=2020-01-01T00:00:00Z&granularity=hour", "secret", 400, "narrow it"},
		{"/v1/metrics/nps?tz=Mars/Olympus", "secret", 400, "IANA time zone"},
		{"/v1/metrics/nps?rule=x", "secret", 400, `unknown parameter or dimension \"rule\"`},
		{"/v1/metrics/nps?group_by=team", "secret", 400, `cannot group nps by \"team\"`},
		{"/v1/metrics/funnel", "secret", 400, "group_by=stage"},
	}
	for _, c := range cases {
		w := get(h, c.url, c.token, "")
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.msg) {
			t.Errorf("%s: %d %s, want %d %q", c.url, w.Code, w.Body, c.status, c.msg)
		}
	}
	if w := get(h, "/healthz", "", ""); w.Code != 200 {
		t.Errorf("healthz %d", w.Code)
	}
}

// CSV carries the same figures as JSON: one row per group and bucket,
// empty where JSON has null.
func TestCSVAgreesWithJSON(t *testing.T) {
	h := newServer(t)
	for _, url := range []string{
		"/v1/metrics/nps?from=2026-11-22&to=2026-11-25&granularity=hour&group_by=channel,plan",
		"/v1/metrics/nps?from=2026-11-22&to=2026-11-25&tz=Asia/Kolkata",
		"/v1/metrics/mtta?from=2026-11-23&to=2026-11-24&group_by=rule",
		"/v1/metrics/interactions?from=2026-11-01&to=2026-12-01&granularity=week",
	} {
		jw := get(h, url, "secret", "")
		cw := get(h, url, "secret", "text/csv")
		if jw.Code != 200 || cw.Code != 200 || cw.Header().Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Fatalf("%s: %d %d %s", url, jw.Code, cw.Code, cw.Header().Get("Content-Type"))
		}
		var res SeriesResponse
		if err := json.Unmarshal(jw.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(cw.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, c := range rows[0] {
			col[c] = i
		}
		var pts []metric.Point
		var groups []map[string]string
		if res.Groups == nil {
			pts = res.Points
			for range pts {
				groups = append(groups, nil)
			}
		} else {
			for _, g := range *res.Groups {
				for _, p := range g.Points {
					pts, groups = append(pts, p), append(groups, g.Group)
				}
			}
		}
		if len(rows)-1 != len(pts) {
			t.Fatalf("%s: %d CSV rows, %d JSON points", url, len(rows)-1, len(pts))
		}
		num := func(s string) float64 {
			if s == "" {
				return math.NaN()
			}
			v, _ := strconv.ParseFloat(s, 64)
			return v
		}
		same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
		for i, p := range pts {
			r := rows[i+1]
			start, _ := time.Parse(time.RFC3339, r[col["start"]])
			if !start.Equal(p.Start) || !same(num(r[col["value"]]), p.Value) || r[col["n"]] != strconv.FormatInt(p.N, 10) ||
				!same(num(r[col["ci_low"]]), p.Low) || !same(num(r[col["ci_high"]]), p.High) || r[col["low_sample"]] != strconv.FormatBool(p.LowSample) {
				t.Errorf("%s row %d %v, JSON %+v", url, i, r, p)
			}
			for k, v := range p.Parts {
				if r[col["part_"+k]] != strconv.FormatInt(v, 10) {
					t.Errorf("%s row %d part %s %s, JSON %d", url, i, k, r[col["part_"+k]], v)
				}
			}
			for k, v := range p.Stats {
				if !same(num(r[col["stat_"+k]]), v) {
					t.Errorf("%s row %d stat %s %s, JSON %v", url, i, k, r[col["stat_"+k]], v)
				}
			}
			for k, v := range groups[i] {
				if r[col[k]] != v {
					t.Errorf("%s row %d %s %q, JSON %q", url, i, k, r[col[k]], v)
				}
			}
		}
	}
}

// openAPI loads the served document and checks it is valid OpenAPI 3.
func openAPI(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not valid OpenAPI 3: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return doc, router
}

// Real requests and responses of every route and status validate against
// the served document.
func TestResponsesMatchOpenAPI(t *testing.T) {
	_, router := openAPI(t)
	h := newServer(t)
	for _, c := range []struct{ url, token, accept string }{
		{"/healthz", "", ""},
		{"/v1/openapi.json", "", ""},
		{"/v1/metrics", "secret", ""},
		{"/v1/metrics", "secret", "text/csv"},
		{"/v1/metrics", "", ""},
		{"/v1/metrics/nps?from=2026-11-23&to=2026-11-24&granularity=hour", "secret", ""},
		{"/v1/metrics/nps?from=2026-11-23&to=2026-11-24&group_by=channel,plan&tz=Europe/Paris", "secret", ""},
		{"/v1/metrics/nps?from=2026-11-23&to=2026-11-24&channel=app,typeform", "secret", "text/csv"},
		{"/v1/metrics/mtta?from=2026-11-23&to=2026-11-24&group_by=rule&severity=warning", "secret", ""},
		{"/v1/metrics/time_in_stage?from=2026-11-01&to=2026-12-01&granularity=month&group_by=stage", "secret", ""},
		{"/v1/metrics/funnel?group_by=stage", "secret", ""},
		{"/v1/metrics/nps?granularity=minute", "secret", ""},
		{"/v1/metrics/nps", "", ""},
		{"/v1/metrics/bogus", "secret", ""},
	} {
		w := get(h, c.url, c.token, c.accept)
		req := httptest.NewRequest("GET", "http://ocx.example"+c.url, nil)
		if c.accept != "" {
			req.Header.Set("Accept", c.accept)
		}
		if err := validate(router, req, w.Code, w.Header(), w.Body.Bytes()); err != nil {
			t.Errorf("%s (%d): %v\n%s", c.url, w.Code, err, w.Body)
		}
	}
}

func validate(router routers.Router, req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := router.FindRoute(req)
	if err != nil {
		return err
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if status < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			return err
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(bytes.Clone(body))
	return openapi3filter.ValidateResponse(context.Background(), out)
}

// The document names every metric and states its formula as the code
// computes it.
func TestOpenAPIDocumentsEveryMetric(t *testing.T) {
	doc, _ := openAPI(t)
	enum := doc.Paths.Find("/v1/metrics/{name}").Get.Parameters.GetByInAndName("path", "name").Schema.Value.Enum
	if len(enum) != len(metric.Names()) {
		t.Errorf("the name parameter lists %d metrics, the catalog %d", len(enum), len(metric.Names()))
	}
	for _, m := range metric.Catalog(nil) {
		row := "| `" + m.Name + "` | " + m.Unit + " | " + m.Formula + " |"
		if !strings.Contains(doc.Info.Description, row) {
			t.Errorf("the description has no row %q", row)
		}
	}
}
