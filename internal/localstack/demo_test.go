package localstack_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/api"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/demo"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/metric"
)

// The demo's size in this test: small enough to run in about a minute,
// large enough that every shipped rule fires.
const (
	demoSeed      = 3
	demoCustomers = 120
	demoDays      = 30
)

// After the demo, every metric is queryable by every dimension and
// granularity in two time zones; the figures match a computation done
// here, in plain Go, from the events the demo generated; CSV and JSON
// agree; every response validates against the OpenAPI document.
//
// Exact against the generated events: interactions, nps, csat, ces and
// contacts (by every dimension), the n of every contact rate, journeys
// started by journey, and failures, mtta and mttr against the failure
// records the stack lists at GET /v1/failures (which rules fire depends on
// rule state the story does not model; the records are a second, separate
// account of them).
// Checked for consistency only, because their figures depend on identity
// resolution or journey state the story does not expose: repeat, hop and
// followed counts (bounded between linking no channels and linking every
// channel of a person), journeys by stage and team, failure_rate, funnel
// and time_in_stage. For every metric, groups sum to the ungrouped series,
// a filter returns its group, and hours sum to their days.
func TestDemoFiguresMatchTheEvents(t *testing.T) {
	began := time.Now()
	// The story ends at a fixed instant whose month holds the end of
	// summer time in Europe (25 October) and in New York (1 November): New
	// York has a 25-hour day in it. The stack's clock stands still there, so
	// Twilio's message callbacks, which carry no time, are stamped with it.
	now := time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := startWith(t, t.TempDir(), "", func(c *localstack.Config) { c.RollupEvery = time.Hour; c.Now = clock })
	defer st.Stop()

	chans, err := demo.Channels(config.Shipped, func(k string) string {
		if k == channel.SecretEnv("app") {
			return secret // the test stack's app secret
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	reqs := demo.Story(demoSeed, now, demoDays, demoCustomers)
	stats := demo.Sender{Base: st.URL, Channels: chans, Workers: 4, Now: clock}.Send(context.Background(), reqs)
	if stats.Failed > 0 || stats.Redeliveries > 0 {
		t.Fatalf("demo: %+v", stats)
	}
	var facts []demo.Fact
	for _, r := range reqs {
		for _, f := range r.Facts {
			if f.At.IsZero() {
				f.At = now
			}
			facts = append(facts, f)
		}
	}
	if int(stats.Events) != len(facts) {
		t.Fatalf("the stack accepted %d events for %d generated", stats.Events, len(facts))
	}
	sent := time.Since(began)
	t.Logf("%d requests, %d events sent in %s", len(reqs), len(facts), sent.Round(time.Second))

	// Settle: deliver everything, fire the timers that fell due (stalls,
	// late replies), deliver what they raised, roll up.
	ctx := context.Background()
	idle(t, st)
	if err := st.Tick(ctx, "rule-timers"); err != nil {
		t.Fatal(err)
	}
	idle(t, st)
	if err := st.Tick(ctx, "rollup"); err != nil {
		t.Fatal(err)
	}
	settled := time.Since(began)
	t.Logf("settled and rolled up at %s", settled.Round(time.Second))

	an := newAnalyst(t, st)
	failures := listFailures(t, an)
	checkEveryRuleFired(t, failures)

	var cat api.CatalogResponse
	if code, body := an.get("/v1/metrics", ""); code != 200 || json.Unmarshal(body, &cat) != nil {
		t.Fatalf("catalog: %d %s", code, body)
	}
	if len(cat.Metrics) != len(metric.Names()) {
		t.Fatalf("the catalog lists %d metrics, want %d", len(cat.Metrics), len(metric.Names()))
	}
	want := expectations(facts, failures)
	queries := 0
	for _, m := range cat.Metrics {
		exp := want[m.Name]
		for _, tz := range []string{"UTC", "America/New_York"} {
			loc, _ := time.LoadLocation(tz)
			day := time.Date(now.In(loc).Year(), now.In(loc).Month(), now.In(loc).Day(), 0, 0, 0, 0, loc)
			// Hours of the last three local days; days, weeks and months of
			// the whole story.
			hours := span{day.AddDate(0, 0, -2), day.AddDate(0, 0, 1)}
			story := span{time.Date(2026, 10, 6, 0, 0, 0, 0, loc), day.AddDate(0, 0, 1)}
			var hourly, daily series
			for _, gran := range []string{"hour", "day", "week", "month"} {
				r := story
				if gran == "hour" {
					r = hours
				}
				q := metricQuery{an: an, m: m, loc: loc, gran: gran, r: r, needs: needsOf(m.Name)}
				base := q.fetch(t, "", "")
				queries += 2
				if exp != nil {
					exp.compare(t, q, "", base)
				}
				for _, d := range m.Dimensions {
					if d == q.needs {
						continue
					}
					grouped := q.fetch(t, d, "")
					queries += 3
					if exp != nil {
						exp.compare(t, q, d, grouped)
					}
					sumsTo(t, q, d, grouped, base)
					// A filter returns its group (the first with a value).
					for _, k := range grouped.keys() {
						if v := strings.Split(k, "/")[0]; v != "" {
							filtered := q.fetch(t, "", d+"="+v)
							for fk, pts := range filtered {
								gk := v
								if fk != "" {
									gk += "/" + fk
								}
								same(t, q.describe(d+"="+v+" "+fk), pts, grouped[gk])
							}
							break
						}
					}
				}
				switch gran {
				case "hour":
					hourly = base
				case "day":
					daily = base
				}
			}
			hoursSumToDays(t, m.Name, tz, hourly, daily, loc)
		}
	}
	checkContactBounds(t, an, facts)
	t.Logf("%d requests, %d events from %d customers: sent in %s, settled at %s; %d metric queries (JSON and CSV) done at %s",
		len(reqs), len(facts), demoCustomers, sent.Round(time.Second), settled.Round(time.Second), queries, time.Since(began).Round(time.Second))
}

// span is a query range.
type span struct{ from, to time.Time }

func needsOf(name string) string {
	m, _ := metric.Lookup(name, nil)
	return m.Needs
}

// metricQuery is one metric in one zone at one granularity over one range.
type metricQuery struct {
	an    *analyst
	m     metric.Metric
	loc   *time.Location
	gran  string
	r     span
	needs string
}

func (q metricQuery) describe(extra string) string {
	return fmt.Sprintf("%s by %s in %s %s", q.m.Name, q.gran, q.loc, extra)
}

// series maps a group ("a/b" for the values of the grouped dimensions,
// "" ungrouped) to its points.
type series map[string][]metric.Point

func (s series) keys() []string {
	ks := make([]string, 0, len(s))
	for k := range s {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// fetch asks for the series grouped by dim (and the needed dimension)
// and filtered by filter ("d=v"), in JSON and CSV; it checks that they
// agree and returns the JSON.
func (q metricQuery) fetch(t *testing.T, dim, filter string) series {
	t.Helper()
	v := url.Values{"granularity": {q.gran}, "tz": {q.loc.String()},
		"from": {q.r.from.Format(time.RFC3339)}, "to": {q.r.to.Format(time.RFC3339)}}
	var by []string
	if dim != "" {
		by = append(by, dim)
	}
	if q.needs != "" {
		by = append(by, q.needs)
	}
	if len(by) > 0 {
		v.Set("group_by", strings.Join(by, ","))
	}
	if k, val, ok := strings.Cut(filter, "="); ok {
		v.Set(k, val)
	}
	path := "/v1/metrics/" + q.m.Name + "?" + v.Encode()
	code, body := q.an.get(path, "")
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var res api.SeriesResponse
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	code, raw := q.an.get(path, "text/csv")
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if code != 200 || err != nil {
		t.Fatalf("GET %s as CSV: %d %v", path, code, err)
	}
	out := series{}
	if res.Groups == nil {
		out[""] = res.Points
	} else {
		for _, g := range *res.Groups {
			var k []string
			for _, d := range res.GroupBy {
				k = append(k, g.Group[d])
			}
			out[strings.Join(k, "/")] = g.Points
		}
	}
	csvAgrees(t, path, q.m, res.GroupBy, out, rows)
	return out
}

// csvAgrees checks that the CSV has one row per JSON point, with the same
// group, start and figures (empty where JSON has null).
func csvAgrees(t *testing.T, path string, m metric.Metric, groupBy []string, s series, rows [][]string) {
	t.Helper()
	head := append([]string{"start"}, groupBy...)
	head = append(head, "value", "n", "ci_low", "ci_high", "low_sample", "provisional")
	for _, p := range m.Parts {
		head = append(head, "part_"+p)
	}
	for _, st := range m.Stats {
		head = append(head, "stat_"+st)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], head) {
		t.Fatalf("%s: CSV header %v, want %v", path, rows[:min(len(rows), 1)], head)
	}
	num := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	var want [][]string
	for _, k := range s.keys() {
		for _, p := range s[k] {
			row := []string{p.Start.Format(time.RFC3339)}
			if len(groupBy) > 0 {
				row = append(row, strings.Split(k, "/")...)
			}
			row = append(row, num(p.Value), strconv.FormatInt(p.N, 10), num(p.Low), num(p.High),
				strconv.FormatBool(p.LowSample), strconv.FormatBool(p.Provisional))
			for _, part := range m.Parts {
				row = append(row, strconv.FormatInt(p.Parts[part], 10))
			}
			for _, st := range m.Stats {
				v, ok := p.Stats[st]
				if !ok {
					v = math.NaN()
				}
				row = append(row, num(v))
			}
			want = append(want, row)
		}
	}
	got := rows[1:]
	sortRows := func(rs [][]string) {
		sort.SliceStable(rs, func(i, j int) bool { return strings.Join(rs[i], ",") < strings.Join(rs[j], ",") })
	}
	sortRows(got)
	sortRows(want)
	if len(got) != len(want) {
		t.Fatalf("%s: %d CSV rows, %d JSON points", path, len(got), len(want))
	}
	for i := range got {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("%s: CSV row %v, JSON %v", path, got[i], want[i])
			return
		}
	}
}

// same checks two series of one group bucket by bucket.
func same(t *testing.T, what string, got, want []metric.Point) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d points, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Start.Equal(w.Start) || g.N != w.N || !sameFloat(g.Value, w.Value) || !maps(g.Parts, w.Parts) {
			t.Errorf("%s at %s: %v n=%d %v, want %v n=%d %v", what, w.Start, g.Value, g.N, g.Parts, w.Value, w.N, w.Parts)
			return
		}
	}
}

func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

func maps(a, b map[string]int64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// sumsTo checks that, bucket by bucket, the groups' n and parts add up to
// the ungrouped series.
func sumsTo(t *testing.T, q metricQuery, dim string, grouped, base series) {
	t.Helper()
	type sum struct {
		n     int64
		parts map[string]int64
	}
	total := func(s series, keyOf func(string) string) map[string]map[int64]*sum {
		out := map[string]map[int64]*sum{}
		for k, pts := range s {
			bk := keyOf(k)
			if out[bk] == nil {
				out[bk] = map[int64]*sum{}
			}
			for _, p := range pts {
				x := out[bk][p.Start.Unix()]
				if x == nil {
					x = &sum{parts: map[string]int64{}}
					out[bk][p.Start.Unix()] = x
				}
				x.n += p.N
				for pk, pv := range p.Parts {
					x.parts[pk] += pv
				}
			}
		}
		return out
	}
	// Grouped by dim and the needed dimension: keys are "dim/needed".
	needed := func(k string) string {
		if q.needs == "" {
			return ""
		}
		parts := strings.Split(k, "/")
		return parts[len(parts)-1]
	}
	g, b := total(grouped, needed), total(base, func(k string) string { return k })
	for bk, buckets := range b {
		for at, want := range buckets {
			got := g[bk][at]
			if got == nil {
				got = &sum{parts: map[string]int64{}}
			}
			if got.n != want.n || !maps(got.parts, want.parts) {
				t.Errorf("%s: groups by %s at %s sum to n=%d %v, the total is n=%d %v", q.describe(bk), dim, time.Unix(at, 0).UTC(), got.n, got.parts, want.n, want.parts)
			}
		}
	}
}

// hoursSumToDays checks that the hours of each local day add up to the day.
func hoursSumToDays(t *testing.T, name, tz string, hourly, daily series, loc *time.Location) {
	t.Helper()
	for k, hours := range hourly {
		days := map[string]int64{}
		for _, p := range hours {
			days[p.Start.In(loc).Format(time.DateOnly)] += p.N
		}
		checked := 0
		for _, p := range daily[k] {
			d := p.Start.In(loc).Format(time.DateOnly)
			if n, ok := days[d]; ok {
				checked++
				if n != p.N {
					t.Errorf("%s %s in %s: hours of %s sum to n=%d, the day has %d", name, k, tz, d, n, p.N)
				}
			}
		}
		if checked != len(days) {
			t.Errorf("%s %s in %s: %d days of hours, %d days compared", name, k, tz, len(days), checked)
		}
	}
}

// listFailures reads every failure through the API, a page at a time,
// and checks the listing's order and filters.
func listFailures(t *testing.T, an *analyst) []events.Failure {
	t.Helper()
	newest := listPages(t, an, "")
	oldest := listPages(t, an, "&sort=detected_at")
	if len(newest) != len(oldest) {
		t.Fatalf("%d failures newest first, %d oldest first", len(newest), len(oldest))
	}
	bySeverity := map[string]int{}
	for i, f := range newest {
		if o := oldest[len(oldest)-1-i]; !o.DetectedAt.Equal(f.DetectedAt) {
			t.Errorf("failure %d: detected %s newest first, %s oldest first from the end", i, f.DetectedAt, o.DetectedAt)
		}
		if i > 0 && f.DetectedAt.After(newest[i-1].DetectedAt) {
			t.Errorf("failure %s listed after an older one", f.ID)
		}
		bySeverity[f.Severity]++
	}
	for sev, n := range bySeverity {
		if got := listPages(t, an, "&severity="+sev); len(got) != n {
			t.Errorf("severity=%s lists %d failures, want %d", sev, len(got), n)
		}
	}
	return newest
}

// listPages follows the cursor to the end of a listing.
func listPages(t *testing.T, an *analyst, query string) []events.Failure {
	t.Helper()
	var out []events.Failure
	cursor := ""
	for pages := 0; ; pages++ {
		path := "/v1/failures?limit=50" + query
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		code, body := an.get(path, "")
		var page failure.Page
		if code != 200 || json.Unmarshal(body, &page) != nil {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		for _, f := range page.Failures {
			out = append(out, f.Failure)
		}
		if page.Next == "" {
			break
		}
		if pages > 1000 {
			t.Fatal("the failure listing does not end")
		}
		cursor = page.Next
	}
	seen := map[string]bool{}
	for _, f := range out {
		if seen[f.ID] {
			t.Errorf("failure %s listed twice", f.ID)
		}
		seen[f.ID] = true
	}
	return out
}

// checkEveryRuleFired checks the demo raised a failure of every shipped rule.
func checkEveryRuleFired(t *testing.T, failures []events.Failure) {
	t.Helper()
	files, err := fs.Glob(config.Shipped, "rules/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped rules: %v", err)
	}
	fired := map[string]int{}
	for _, f := range failures {
		fired[f.RuleID]++
	}
	id := regexp.MustCompile(`(?m)^\s*- id:\s*(\S+)`)
	n := 0
	for _, file := range files {
		// OCX watching its own intake is not part of the customers' story,
		// and the demo's clock stands still, so no minute is ever tallied:
		// intake_test.go drives those rules.
		if file == "rules/intake.yaml" {
			continue
		}
		b, _ := fs.ReadFile(config.Shipped, file)
		for _, m := range id.FindAllSubmatch(b, -1) {
			n++
			if fired[string(m[1])] == 0 {
				t.Errorf("the demo raised no %s failure (%s)", m[1], file)
			}
		}
	}
	if n == 0 {
		t.Fatal("found no rule ids")
	}
	t.Logf("failures by rule: %v", fired)
}

// record is one thing counted into a metric: when, its dimension values
// and the fields it adds.
type record struct {
	at     time.Time
	dims   map[string]string
	fields map[string]float64
}

// expected is a metric's figures computed here from records: value
// computes a bucket's value and n from its summed fields; parts are
// compared exactly when listed; nOnly compares n alone (the rates whose
// numerators depend on identity resolution).
type expected struct {
	recs  []record
	value func(f map[string]float64) (float64, int64)
	parts []string
	nOnly bool
	// dims limits the exact comparison to these dimensions ("" ungrouped);
	// nil means every dimension.
	dims []string
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func ratio(num, den float64, scale float64) float64 {
	if den == 0 {
		return math.NaN()
	}
	return round2(scale * num / den)
}

// expectations computes, from the generated events and the failure
// records, what each metric should say.
func expectations(facts []demo.Fact, failures []events.Failure) map[string]*expected {
	var volume, nps, csat, ces, contacts []record
	for _, f := range facts {
		dims := map[string]string{"channel": f.Channel, "type": f.Type, "plan": f.Attrs["plan"], "region": f.Attrs["region"]}
		volume = append(volume, record{f.At, dims, map[string]float64{"n": 1}})
		if f.Contact {
			contacts = append(contacts, record{f.At, dims, map[string]float64{"contacts": 1}})
		}
		s := float64(f.Score)
		switch f.Survey {
		case "nps":
			nps = append(nps, record{f.At, dims, map[string]float64{"n": 1, "promoters": b(f.Score >= 9), "passives": b(f.Score == 7 || f.Score == 8), "detractors": b(f.Score <= 6)}})
		case "csat":
			csat = append(csat, record{f.At, dims, map[string]float64{"n": 1, "satisfied": b(f.Score >= 4)}})
		case "ces":
			ces = append(ces, record{f.At, dims, map[string]float64{"n": 1, "sum": s, "agree": b(f.Score >= 5)}})
		}
	}
	var fails, acked, resolved []record
	for _, fl := range failures {
		dims := map[string]string{"rule": fl.RuleID, "team": fl.Team, "severity": fl.Severity, "channel": fl.Labels["channel"]}
		for _, ev := range fl.Evidence {
			if strings.HasPrefix(ev.Type, "journey.") {
				dims["journey"], _ = ev.Attributes["journey"].(string)
			}
		}
		var ack, res float64
		for _, h := range fl.History {
			switch h.State {
			case "acknowledged":
				ack = 1
				acked = append(acked, record{fl.DetectedAt, dims, map[string]float64{"n": 1, "sum": h.At.Sub(fl.DetectedAt).Seconds()}})
			case "resolved":
				res = 1
				resolved = append(resolved, record{fl.DetectedAt, dims, map[string]float64{"n": 1, "sum": h.At.Sub(fl.DetectedAt).Seconds()}})
			}
		}
		fails = append(fails, record{fl.DetectedAt, dims, map[string]float64{"detected": 1, "acknowledged": ack, "resolved": res}})
	}
	count := func(field string) func(map[string]float64) (float64, int64) {
		return func(f map[string]float64) (float64, int64) { return f[field], int64(f[field]) }
	}
	mean := func(f map[string]float64) (float64, int64) {
		if f["n"] == 0 {
			return math.NaN(), 0
		}
		return math.Round(f["sum"]/f["n"]*1000) / 1000, int64(f["n"])
	}
	contactsN := &expected{recs: contacts, value: count("contacts"), nOnly: true}
	return map[string]*expected{
		"interactions": {recs: volume, value: count("n")},
		"nps": {recs: nps, parts: []string{"promoters", "passives", "detractors"}, value: func(f map[string]float64) (float64, int64) {
			return ratio(f["promoters"]-f["detractors"], f["n"], 100), int64(f["n"])
		}},
		"csat": {recs: csat, parts: []string{"satisfied"}, value: func(f map[string]float64) (float64, int64) {
			return ratio(f["satisfied"], f["n"], 100), int64(f["n"])
		}},
		"ces": {recs: ces, parts: []string{"agree"}, value: func(f map[string]float64) (float64, int64) {
			return ratio(f["sum"], f["n"], 1), int64(f["n"])
		}},
		"contacts":                 {recs: contacts, value: count("contacts")},
		"repeat_contact_rate":      contactsN,
		"first_contact_resolution": contactsN,
		"channel_hop_rate":         contactsN,
		"failures":                 {recs: fails, value: count("detected"), parts: []string{"acknowledged", "resolved"}},
		"mtta":                     {recs: acked, value: mean},
		"mttr":                     {recs: resolved, value: mean},
		"journeys":                 journeysStarted(facts),
	}
}

func b(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// journeysStarted counts the instances each shipped journey starts:
// onboarding per account created, order-to-delivery per order,
// support-case per ticket, failed-payment-recovery per invoice at its
// first failed payment. Compared ungrouped and by journey only; stages
// and teams are the journey engine's.
func journeysStarted(facts []demo.Fact) *expected {
	var recs []record
	invoices := map[string]bool{}
	for _, f := range facts {
		j := map[string]string{"account.created": "onboarding", "order.created": "order-to-delivery", "ticket.created": "support-case"}[f.Type]
		if f.Type == "payment.failed" && !invoices[f.Ref] {
			invoices[f.Ref], j = true, "failed-payment-recovery"
		}
		if j != "" {
			recs = append(recs, record{f.At, map[string]string{"journey": j}, map[string]float64{"started": 1}})
		}
	}
	return &expected{recs: recs, nOnly: true, dims: []string{"", "journey"},
		value: func(f map[string]float64) (float64, int64) { return f["started"], int64(f["started"]) }}
}

// bucket is the start of the bucket holding t: hours by the UTC clock
// (both zones tested are a whole number of hours off UTC), days, ISO
// weeks and months by the local calendar.
func bucket(t time.Time, gran string, loc *time.Location) time.Time {
	l := t.In(loc)
	d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	switch gran {
	case "hour":
		return t.Truncate(time.Hour)
	case "day":
		return d
	case "week":
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	case "month":
		return time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc)
	}
	panic(gran)
}

// compare checks a series against the records, bucket by bucket, and that
// every record in the range was counted.
func (e *expected) compare(t *testing.T, q metricQuery, dim string, got series) {
	t.Helper()
	if e.dims != nil && !slices.Contains(e.dims, dim) {
		return
	}
	sums := map[string]map[int64]map[string]float64{}
	for _, r := range e.recs {
		k := r.dims[dim]
		if dim == "" {
			k = ""
		}
		at := bucket(r.at, q.gran, q.loc).Unix()
		if sums[k] == nil {
			sums[k] = map[int64]map[string]float64{}
		}
		if sums[k][at] == nil {
			sums[k][at] = map[string]float64{}
		}
		for f, v := range r.fields {
			sums[k][at][f] += v
		}
	}
	seen := map[string]int64{}
	for k, pts := range got {
		for _, p := range pts {
			if b := bucket(p.Start, q.gran, q.loc); !b.Equal(p.Start) {
				t.Errorf("%s: a bucket starts at %s, not at %s", q.describe(dim), p.Start, b)
			}
			f := sums[k][p.Start.Unix()]
			if f == nil {
				f = map[string]float64{}
			}
			v, n := e.value(f)
			seen[k] += n
			if p.N != n || !e.nOnly && !(sameFloat(p.Value, v) || math.Abs(p.Value-v) < 0.006) {
				t.Errorf("%s, group %q, bucket %s: %v (n=%d), computed from the events %v (n=%d)", q.describe(dim), k, p.Start, p.Value, p.N, v, n)
				continue
			}
			for _, part := range e.parts {
				if p.Parts[part] != int64(f[part]) {
					t.Errorf("%s, group %q, bucket %s: %s %d, computed %v", q.describe(dim), k, p.Start, part, p.Parts[part], f[part])
				}
			}
			if kind := q.m.Kind; (kind == metric.KindScore || kind == metric.KindRate) && p.N > 0 {
				if p.LowSample != (p.N < metric.MinSample) || !math.IsNaN(p.Low) && (p.Low > p.Value || p.High < p.Value) {
					t.Errorf("%s, group %q, bucket %s: value %v, interval %v..%v, low sample %v with n=%d", q.describe(dim), k, p.Start, p.Value, p.Low, p.High, p.LowSample, p.N)
				}
			}
		}
	}
	// Records in the range that no point counted.
	for k, buckets := range sums {
		var n int64
		for at, f := range buckets {
			if t0 := time.Unix(at, 0); !t0.Before(bucket(q.r.from, q.gran, q.loc)) && t0.Before(q.r.to) {
				_, c := e.value(f)
				n += c
			}
		}
		if seen[k] != n {
			t.Errorf("%s, group %q: points count n=%d, the events in range %d", q.describe(dim), k, seen[k], n)
		}
	}
}

// checkContactBounds checks repeat and followed contacts over the whole
// story against two computations from the events: with no channel of a
// person linked to another (a lower bound) and with all of them linked
// (an upper bound). Which links the stack makes depends on identity
// resolution and arrival order; its counts must lie in between.
func checkContactBounds(t *testing.T, an *analyst, facts []demo.Fact) {
	t.Helper()
	code, body := an.get("/v1/metrics/contacts?granularity=month&from=2026-10-01&to=2026-12-01", "")
	var res api.SeriesResponse
	if code != 200 || json.Unmarshal(body, &res) != nil {
		t.Fatalf("contacts: %d %s", code, body)
	}
	got := map[string]int64{}
	for _, p := range res.Points {
		for k, v := range p.Parts {
			got[k] += v
		}
	}
	count := func(key func(demo.Fact) string) (repeat, followed int64) {
		by := map[string][]time.Time{}
		for _, f := range facts {
			if f.Contact {
				by[key(f)] = append(by[key(f)], f.At)
			}
		}
		for _, ts := range by {
			slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
			for i := range ts {
				if i > 0 && ts[i].Sub(ts[i-1]) <= metric.ContactWindow {
					repeat++
				}
				if i+1 < len(ts) && ts[i+1].Sub(ts[i]) <= metric.ContactWindow {
					followed++
				}
			}
		}
		return repeat, followed
	}
	loRepeat, loFollowed := count(func(f demo.Fact) string { return f.Channel + "/" + strconv.Itoa(f.Person) })
	hiRepeat, hiFollowed := count(func(f demo.Fact) string { return strconv.Itoa(f.Person) })
	if got["repeat"] < loRepeat || got["repeat"] > hiRepeat || got["followed"] < loFollowed || got["followed"] > hiFollowed || got["hop"] > got["repeat"] {
		t.Errorf("contacts %v: want repeat in %d..%d, followed in %d..%d, hop at most repeat", got, loRepeat, hiRepeat, loFollowed, hiFollowed)
	}
	if got["repeat"] == 0 || got["followed"] == 0 {
		t.Errorf("the demo made no repeat contacts: %v", got)
	}
}
