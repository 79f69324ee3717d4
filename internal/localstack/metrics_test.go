package localstack_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/ocxhq/ocx/internal/api"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/metric"
)

// analyst queries the stack's API as an analyst would and checks every
// response against the OpenAPI document the stack serves.
type analyst struct {
	t      *testing.T
	st     *localstack.Stack
	router routers.Router
}

func newAnalyst(t *testing.T, st *localstack.Stack) *analyst {
	t.Helper()
	resp, err := http.Get(st.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("served OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("served OpenAPI document is invalid: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &analyst{t: t, st: st, router: router}
}

func (a *analyst) get(path, accept string) (int, []byte) {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.st.URL+path, nil)
	req.Header.Set("Authorization", "Bearer test-token")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	route, params, err := a.router.FindRoute(req)
	if err != nil {
		a.t.Fatalf("%s is not in the OpenAPI document: %v", path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(bytes.Clone(body))
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		a.t.Errorf("GET %s (%d) does not match the OpenAPI document: %v\n%s", path, resp.StatusCode, err, body)
	}
	return resp.StatusCode, body
}

// series returns the points by group ("" ungrouped), failing on a non-200.
func (a *analyst) series(path string) map[string][]metric.Point {
	a.t.Helper()
	code, body := a.get(path, "")
	if code != 200 {
		a.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var res api.SeriesResponse
	if err := json.Unmarshal(body, &res); err != nil {
		a.t.Fatal(err)
	}
	out := map[string][]metric.Point{}
	if res.Groups == nil {
		out[""] = res.Points
		return out
	}
	for _, g := range *res.Groups {
		var k []string
		for _, d := range res.GroupBy {
			k = append(k, g.Group[d])
		}
		out[strings.Join(k, "/")] = g.Points
	}
	return out
}

// signedSender posts in-house app events (Standard Webhooks).
func appSender(t *testing.T, st *localstack.Stack) func(id, typ string, at time.Time, cust, attrs map[string]any) {
	key, _ := standardwebhooks.DecodeSecret(secret)
	return func(id, typ string, at time.Time, cust, attrs map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"type": typ, "occurred_at": at.Format(time.RFC3339), "customer": cust, "attributes": attrs})
		ts := testNow().Unix()
		req, _ := http.NewRequest("POST", st.URL+"/v1/webhooks/app", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", "v1,"+standardwebhooks.Sign(key, id, ts, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 && resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d", id, typ, resp.StatusCode)
		}
	}
}

// The metrics end to end, the way channels and an analyst use the stack:
// signed webhooks in, the rollup function counting the bus events, exact
// figures out of the API in JSON and CSV, every response as the OpenAPI
// document says.
func TestMetricsEndToEnd(t *testing.T) {
	st := startWith(t, t.TempDir(), "", func(c *localstack.Config) { c.RollupEvery = time.Hour })
	defer st.Stop()
	send := appSender(t, st)
	an := newAnalyst(t, st)

	day := testNow().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
	d := day.Format(time.DateOnly)
	next := day.AddDate(0, 0, 2).Format(time.DateOnly)
	person := func(n int) map[string]any {
		return map[string]any{"id": fmt.Sprint("u-", n), "email": fmt.Sprintf("p%d@example.com", n)}
	}
	// NPS: 6 detracts, 7 and 8 are passive, 9 and 10 promote; a 3 at
	// 23:30 UTC, which is the next day in Paris.
	for i, s := range []int{6, 7, 8, 9, 10} {
		send(fmt.Sprint("nps-", i), "survey.responded", day.Add(8*time.Hour+time.Duration(i)*time.Minute), person(i), map[string]any{"survey": "nps", "score": s, "plan": "pro"})
	}
	send("nps-late", "survey.responded", day.Add(23*time.Hour+30*time.Minute), person(9), map[string]any{"survey": "nps", "score": 3, "plan": "free"})
	// CSAT 4, 5, 3 -> 66.67; CES 2 and 6 -> mean 4.
	for i, s := range []int{4, 5, 3} {
		send(fmt.Sprint("csat-", i), "survey.responded", day.Add(10*time.Hour), person(20+i), map[string]any{"survey": "csat", "score": s})
	}
	for i, s := range []int{2, 6} {
		send(fmt.Sprint("ces-", i), "survey.responded", day.Add(11*time.Hour), person(30+i), map[string]any{"survey": "ces", "score": s})
	}
	// A ticket, then a chat an hour later from the same customer: the chat
	// is a repeat contact, and the ticket was not resolved at first contact.
	send("c-1", "ticket.created", day.Add(time.Hour), person(40), map[string]any{"ticket_id": "t1"})
	send("c-2", "conversation.opened", day.Add(2*time.Hour), person(40), map[string]any{"conversation_id": "v1"})
	// An order placed, fulfilled 2 hours later, delivered 43 hours after.
	send("o-1", "order.created", day.Add(3*time.Hour), person(50), map[string]any{"order_id": "o1"})
	send("o-2", "order.fulfilled", day.Add(5*time.Hour), person(50), map[string]any{"order_id": "o1"})
	send("o-3", "order.delivered", day.Add(48*time.Hour), person(50), map[string]any{"order_id": "o1"})
	// A redelivery counts nothing.
	send("nps-0", "survey.responded", day.Add(8*time.Hour), person(0), map[string]any{"survey": "nps", "score": 6, "plan": "pro"})

	settle := func() {
		idle(t, st)
		if err := st.Tick(context.Background(), "rule-timers"); err != nil {
			t.Fatal(err)
		}
		idle(t, st)
		if err := st.Tick(context.Background(), "rollup"); err != nil {
			t.Fatal(err)
		}
	}
	settle()

	want := func(what string, p metric.Point, value float64, n int64) {
		t.Helper()
		if math.Abs(p.Value-value) > 0.005 || p.N != n {
			t.Errorf("%s = %v (n=%d), want %v (n=%d)", what, p.Value, p.N, value, n)
		}
	}
	utc := an.series("/v1/metrics/nps?from=" + d + "&to=" + next)[""]
	want("NPS of the day (UTC)", utc[0], 0, 6)
	if !utc[0].LowSample || math.IsNaN(utc[0].Low) || utc[0].Parts["promoters"] != 2 || utc[0].Parts["detractors"] != 2 {
		t.Errorf("NPS point %+v", utc[0])
	}
	want("NPS of the next day (UTC)", utc[1], math.NaN(), 0)
	paris := an.series("/v1/metrics/nps?from=" + d + "&to=" + next + "&tz=Europe/Paris")[""]
	want("NPS of the day (Paris)", paris[0], 20, 5)
	want("NPS of the next day (Paris)", paris[1], -100, 1)
	byPlan := an.series("/v1/metrics/nps?from=" + d + "&to=" + next + "&group_by=plan")
	want("NPS of plan pro", byPlan["pro"][0], 20, 5)
	want("NPS of plan free", byPlan["free"][0], -100, 1)
	want("CSAT", an.series("/v1/metrics/csat?from=" + d + "&to=" + next)[""][0], 66.67, 3)
	want("CES", an.series("/v1/metrics/ces?from=" + d + "&to=" + next)[""][0], 4, 2)
	rc := an.series("/v1/metrics/repeat_contact_rate?from=" + d + "&to=" + next)[""][0]
	want("repeat contact rate", rc, 50, 2)
	want("first-contact resolution", an.series("/v1/metrics/first_contact_resolution?from=" + d + "&to=" + next)[""][0], 50, 2)

	funnel := an.series("/v1/metrics/funnel?journey=order-to-delivery&from=" + d + "&to=" + next + "&granularity=week&group_by=stage")
	if len(funnel["placed"]) == 0 || len(funnel["fulfilled"]) == 0 {
		t.Fatalf("funnel %v", funnel)
	}
	reached := func(stage string) (n int64) {
		for _, p := range funnel[stage] {
			n += p.N
		}
		return n
	}
	if reached("placed") != 1 || reached("fulfilled") != 1 {
		t.Errorf("funnel placed %d, fulfilled %d; want 1 and 1", reached("placed"), reached("fulfilled"))
	}
	tis := an.series("/v1/metrics/time_in_stage?journey=order-to-delivery&from=" + d + "&to=" + next + "&granularity=month&group_by=stage")
	for stage, exact := range map[string]float64{"placed": 2 * 3600, "fulfilled": 43 * 3600} {
		var got []metric.Point
		for _, p := range tis[stage] {
			if p.N > 0 {
				got = append(got, p)
			}
		}
		if len(got) != 1 || math.Abs(got[0].Value-exact) > metric.RelativeAccuracy*exact || got[0].Stats["mean"] != exact {
			t.Errorf("time in %s: %+v, want %v s (within %v%%) with that exact mean", stage, got, exact, 100*metric.RelativeAccuracy)
		}
	}

	// Failures are counted when detected (now): the detractors' and the
	// high-effort answer's.
	now := testNow().UTC()
	fails := an.series("/v1/metrics/failures?group_by=rule&from=" + now.Add(-time.Hour).Format(time.RFC3339) + "&to=" + now.Add(time.Hour).Format(time.RFC3339) + "&granularity=day")
	total := func(rule string) (n int64) {
		for _, p := range fails[rule] {
			n += p.N
		}
		return n
	}
	if total("nps.detractor") != 2 || total("ces.high_effort") != 1 {
		t.Errorf("failures by rule: nps.detractor %d, ces.high_effort %d; want 2 and 1 (%v)", total("nps.detractor"), total("ces.high_effort"), fails)
	}

	// CSV carries the figures JSON does.
	path := "/v1/metrics/nps?from=" + d + "&to=" + next + "&tz=Europe/Paris&group_by=plan"
	code, body := an.get(path, "text/csv")
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if code != 200 || err != nil {
		t.Fatalf("CSV: %d %v", code, err)
	}
	groups := an.series(path)
	for _, r := range rows[1:] {
		pts := groups[r[1]]
		var p *metric.Point
		for i := range pts {
			if pts[i].Start.Format(time.RFC3339) == r[0] {
				p = &pts[i]
			}
		}
		if p == nil || r[3] != strconv.FormatInt(p.N, 10) || (r[2] == "") != math.IsNaN(p.Value) || r[2] != "" && r[2] != strconv.FormatFloat(p.Value, 'f', -1, 64) {
			t.Errorf("CSV row %v, JSON %+v", r, p)
		}
	}
	if len(rows)-1 != len(groups["pro"])+len(groups["free"]) {
		t.Errorf("%d CSV rows for %d JSON points", len(rows)-1, len(groups["pro"])+len(groups["free"]))
	}

	// Clear refusals, in the documented shape.
	for path, status := range map[string]int{
		"/v1/metrics/nps?granularity=minute": 400, "/v1/metrics/nps?team=x": 400,
		"/v1/metrics/nps?from=2020-01-01&granularity=hour": 400, "/v1/metrics/bogus": 404,
	} {
		if code, body := an.get(path, ""); code != status {
			t.Errorf("GET %s: %d %s, want %d", path, code, body, status)
		}
	}
	if code, _ := an.get("/v1/metrics", ""); code != 200 {
		t.Errorf("catalog: %d", code)
	}
}
