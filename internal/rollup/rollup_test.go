package rollup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/metric"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type world struct {
	t     *testing.T
	store *MemoryStore
	tally *Tally
	svc   *Service
	now   time.Time
}

func newWorld(t *testing.T) *world {
	st := NewMemoryStore()
	w := &world{t: t, store: st, svc: &Service{Store: st, Log: quiet}, now: time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)}
	w.tally = &Tally{Store: st, Attributes: []string{"plan"}, Now: func() time.Time { return w.now }, Log: quiet}
	return w
}

func (w *world) send(source, typ string, detail any) {
	w.t.Helper()
	b, err := json.Marshal(detail)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.tally.Count(context.Background(), events.Envelope{ID: "env", Source: source, DetailType: typ, Detail: b}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) interaction(id, typ, channel string, at time.Time, cust events.Customer, attrs map[string]any) {
	w.t.Helper()
	if attrs == nil {
		attrs = map[string]any{}
	}
	w.send(events.SourceIngest, typ, events.Interaction{ID: id, Type: typ, Channel: channel, OccurredAt: at, ReceivedAt: w.now, Customer: cust, Attributes: attrs})
}

func (w *world) nps(id string, score int, at time.Time) {
	w.t.Helper()
	w.interaction(id, events.TypeSurveyResponded, "typeform", at, events.Customer{Email: id + "@example.com"}, map[string]any{"survey": "nps", "score": float64(score)})
}

func (w *world) run() Result {
	w.t.Helper()
	res, err := w.svc.Run(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

type q struct {
	metric, gran, tz string
	from, to         time.Time
	filters          map[string][]string
	groupBy          []string
}

func (w *world) query(r q) Answer {
	w.t.Helper()
	ans, err := w.try(r)
	if err != nil {
		w.t.Fatal(err)
	}
	return ans
}

func (w *world) try(r q) (Answer, error) {
	m, ok := metric.Lookup(r.metric, w.tally.Attributes)
	if !ok {
		w.t.Fatalf("no metric %s", r.metric)
	}
	loc := time.UTC
	if r.tz != "" {
		var err error
		if loc, err = time.LoadLocation(r.tz); err != nil {
			w.t.Fatal(err)
		}
	}
	return Reader{Cubes: w.store}.Query(context.Background(), Request{Metric: m, Granularity: r.gran, From: r.from, To: r.to,
		Location: loc, Filters: r.filters, GroupBy: r.groupBy, Now: w.now, MaxPoints: 5000})
}

// values renders a series as "start=value/n" for compact comparison;
// "-" is an undefined value.
func values(s Series) string {
	var out []string
	for _, p := range s.Points {
		v := "-"
		if !math.IsNaN(p.Value) {
			v = fmt.Sprint(p.Value)
		}
		out = append(out, fmt.Sprintf("%s=%s/%d", p.Start.UTC().Format("01-02T15:04"), v, p.N))
	}
	return strings.Join(out, " ")
}

func TestRollupIsIncrementalAndExact(t *testing.T) {
	w := newWorld(t)
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	h8, h9 := day.Add(8*time.Hour), day.Add(9*time.Hour)
	// Hour 8 sits on both NPS edges: 6 detracts, 7 and 8 are passive, 9
	// promotes -> 0. Hour 9: a 3 -> -100. The day: (1 − 2) ÷ 5 = −20.
	w.nps("e1", 6, h8.Add(time.Minute))
	w.nps("e2", 7, h8.Add(2*time.Minute))
	w.nps("e3", 8, h8.Add(30*time.Minute))
	w.nps("e4", 9, h8.Add(59*time.Minute+59*time.Second))
	w.nps("e5", 3, h9)
	res := w.run()
	if res.Counters == 0 {
		t.Fatal("rollup saw no changed counters")
	}
	hours := w.query(q{metric: "nps", gran: Hour, from: h8, to: h9.Add(2 * time.Hour)})
	if got, want := values(hours.Series[0]), "11-23T08:00=0/4 11-23T09:00=-100/1 11-23T10:00=-/0"; got != want {
		t.Errorf("hours %s, want %s", got, want)
	}
	p := hours.Series[0].Points[0]
	if p.Parts["promoters"] != 1 || p.Parts["passives"] != 2 || p.Parts["detractors"] != 1 || !p.LowSample || math.IsNaN(p.Low) {
		t.Errorf("hour 8 point %+v", p)
	}
	days := w.query(q{metric: "nps", gran: Day, from: day.AddDate(0, 0, -1), to: day.AddDate(0, 0, 2)})
	if got, want := values(days.Series[0]), "11-22T00:00=-/0 11-23T00:00=-20/5 11-24T00:00=-/0"; got != want {
		t.Errorf("days %s, want %s", got, want)
	}
	// An empty bucket counts zero interactions (a count, not undefined).
	vol := w.query(q{metric: "interactions", gran: Day, from: day.AddDate(0, 0, -1), to: day.AddDate(0, 0, 1)})
	if got, want := values(vol.Series[0]), "11-22T00:00=0/0 11-23T00:00=5/5"; got != want {
		t.Errorf("interactions %s, want %s", got, want)
	}

	// Nothing changed: the next run reads nothing and writes nothing.
	before := w.store.Reads
	if res := w.run(); res.Counters != 0 || res.Points != 0 || w.store.Reads != before {
		t.Fatalf("idle run = %+v and %d reads; want nothing", res, w.store.Reads-before)
	}

	// A late promoter for hour 8 arrives weeks later: its slot, hour, day,
	// week and month are redone for the two families it touched, nothing else.
	w.nps("e6", 10, h8.Add(30*time.Minute))
	if res := w.run(); res.Points != 2*5 {
		t.Fatalf("late event rollup wrote %d cubes, want 10", res.Points)
	}
	hours = w.query(q{metric: "nps", gran: Hour, from: h8, to: h9.Add(time.Hour)})
	if got, want := values(hours.Series[0]), "11-23T08:00=20/5 11-23T09:00=-100/1"; got != want {
		t.Errorf("hours after late event %s, want %s", got, want)
	}
	months := w.query(q{metric: "nps", gran: Month, from: day, to: day.Add(time.Hour)})
	if got, want := values(months.Series[0]), "11-01T00:00=0/6"; got != want {
		t.Errorf("month %s, want %s", got, want)
	}
	// A redelivered event changes nothing.
	w.nps("e6", 10, h8.Add(30*time.Minute))
	if res := w.run(); res.Counters != 0 {
		t.Fatalf("redelivery changed %d counters", res.Counters)
	}
}

// Buckets are cut in the asked zone, at its own midnight, including zones
// offset by half an hour and days 25 hours long.
func TestTimeZoneBoundaries(t *testing.T) {
	w := newWorld(t)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i, s := range []string{
		"2026-11-22T18:15:00Z", // Kolkata 23:45 on the 22nd
		"2026-11-22T18:30:00Z", // Kolkata 00:00 on the 23rd
		"2026-11-22T23:30:00Z", // Paris 00:30 on the 23rd
		"2026-11-23T00:30:00Z", // UTC the 23rd
		"2026-11-02T04:30:00Z", // New York 23:30 on 1 November, the day the clocks went back
		"2026-11-01T05:30:00Z", // New York 01:30 EDT on 1 November
		"2026-11-01T06:30:00Z", // New York 01:30 EST, the same wall time an hour later
		"2026-03-29T22:30:00Z", // London 23:30 on 29 March, the 23-hour day the clocks went forward
		"2026-03-29T23:30:00Z", // London 00:30 on 30 March
	} {
		w.interaction(fmt.Sprint("i", i), "order.created", "shopify", at(s), events.Customer{ID: fmt.Sprint(i)}, nil)
	}
	w.run()
	cases := []struct {
		tz, gran, from, to, want string
	}{
		{"UTC", Day, "2026-11-22T00:00:00Z", "2026-11-24T00:00:00Z", "11-22T00:00=3/3 11-23T00:00=1/1"},
		{"Europe/Paris", Day, "2026-11-22T12:00:00Z", "2026-11-23T12:00:00Z", "11-21T23:00=2/2 11-22T23:00=2/2"},
		{"Asia/Kolkata", Day, "2026-11-22T12:00:00Z", "2026-11-23T12:00:00Z", "11-21T18:30=1/1 11-22T18:30=3/3"},
		{"Asia/Kolkata", Hour, "2026-11-22T17:00:00Z", "2026-11-22T19:00:00Z", "11-22T16:30=0/0 11-22T17:30=1/1 11-22T18:30=1/1"},
		// 1 November in New York: 04:00Z to 05:00Z the next day (25 hours).
		{"America/New_York", Day, "2026-11-01T12:00:00Z", "2026-11-02T12:00:00Z", "11-01T04:00=3/3 11-02T05:00=0/0"},
		// The repeated hour 01:00-02:00 is two buckets, one per offset.
		{"America/New_York", Hour, "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "11-01T05:00=1/1 11-01T06:00=1/1"},
		// 29 March in London: 00:00Z to 23:00Z (23 hours).
		{"Europe/London", Day, "2026-03-29T12:00:00Z", "2026-03-30T12:00:00Z", "03-29T00:00=1/1 03-29T23:00=1/1"},
		{"Europe/London", Month, "2026-03-10T00:00:00Z", "2026-04-10T00:00:00Z", "03-01T00:00=2/2 03-31T23:00=0/0"},
		// Weeks start on Monday: 16 and 23 November 2026 are Mondays.
		{"UTC", Week, "2026-11-20T00:00:00Z", "2026-11-24T00:00:00Z", "11-16T00:00=3/3 11-23T00:00=1/1"},
		{"Europe/Paris", Month, "2026-11-10T00:00:00Z", "2026-11-11T00:00:00Z", "10-31T23:00=7/7"},
		{"Asia/Kolkata", Month, "2026-11-10T00:00:00Z", "2026-11-11T00:00:00Z", "10-31T18:30=7/7"},
	}
	for _, c := range cases {
		ans := w.query(q{metric: "interactions", gran: c.gran, tz: c.tz, from: at(c.from), to: at(c.to)})
		if got := values(ans.Series[0]); got != c.want {
			t.Errorf("%s by %s: %s, want %s", c.tz, c.gran, got, c.want)
		}
	}
	// A zone whose offset is not a multiple of 15 minutes (here local mean
	// time before 1900) cannot be assembled from slots.
	_, err := w.try(q{metric: "interactions", gran: Day, tz: "Europe/Paris", from: at("1890-01-01T00:00:00Z"), to: at("1890-01-02T00:00:00Z")})
	if br, ok := err.(*BadRequest); !ok || !strings.Contains(br.Msg, "multiple of 15m") {
		t.Errorf("old Paris time: %v", err)
	}
}

func TestCover(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	b, err := Buckets(Month, time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 6, 0, 0, 0, 0, time.UTC), paris, 10)
	if err != nil || len(b) != 1 {
		t.Fatal(b, err)
	}
	ps, err := cover(b[0])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.gran+"@"+p.start.Format("01-02T15"))
	}
	// 23:00Z on 31 October, then whole UTC days up to the first Monday,
	// whole weeks, days, and the last 23 hours of 30 November.
	want := "hour@10-31T23 day@11-01T00 week@11-02T00 week@11-09T00 week@11-16T00 week@11-23T00 hour@11-30T00 hour@11-30T01"
	if s := strings.Join(got, " "); !strings.HasPrefix(s, want) || len(ps) != len(strings.Fields(want))+21 {
		t.Errorf("cover of November in Paris: %s", s)
	}
	if ps[len(ps)-1].start != time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC) {
		t.Errorf("cover ends with %v", ps[len(ps)-1])
	}
}

func TestQueryDimensions(t *testing.T) {
	w := newWorld(t)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	w.interaction("t1", "ticket.created", "zendesk", at, events.Customer{Email: "a@example.com"}, map[string]any{"plan": "pro"})
	w.interaction("t2", "ticket.created", "zendesk", at, events.Customer{Email: "b@example.com"}, map[string]any{"plan": "free"})
	w.interaction("c1", "conversation.opened", "intercom", at, events.Customer{Email: "c@example.com"}, nil)
	w.run()
	day := func(r q) Answer {
		r.gran, r.from, r.to = Day, at, at.Add(time.Hour)
		return w.query(r)
	}
	by := day(q{metric: "interactions", groupBy: []string{"channel", "plan"}})
	var got []string
	for _, s := range by.Series {
		got = append(got, fmt.Sprintf("%s/%s=%v", s.Group["channel"], s.Group["plan"], s.Points[0].Value))
	}
	if s := strings.Join(got, " "); s != "intercom/=1 zendesk/free=1 zendesk/pro=1" {
		t.Errorf("grouped: %s", s)
	}
	if v := day(q{metric: "interactions", filters: map[string][]string{"plan": {"pro", "free"}}}).Series[0].Points[0].Value; v != 2 {
		t.Errorf("plan in (pro, free): %v", v)
	}
	if v := day(q{metric: "interactions", filters: map[string][]string{"plan": {""}}}).Series[0].Points[0].Value; v != 1 {
		t.Errorf("no plan: %v", v)
	}
	if s := day(q{metric: "interactions", groupBy: []string{"channel"}, filters: map[string][]string{"channel": {"sms"}}}); len(s.Series) != 0 {
		t.Errorf("filtered to nothing: %+v", s.Series)
	}
	for _, c := range []struct {
		r    q
		want string
	}{
		{q{metric: "nps", groupBy: []string{"rule"}}, `cannot group nps by "rule"`},
		{q{metric: "nps", filters: map[string][]string{"journey": {"x"}}}, `nps has no dimension "journey"`},
		{q{metric: "funnel"}, "group_by=stage"},
		{q{metric: "interactions", groupBy: []string{"channel", "channel"}}, "twice"},
	} {
		c.r.gran, c.r.from, c.r.to = Day, at, at.Add(time.Hour)
		if _, err := w.try(c.r); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
	if _, err := w.try(q{metric: "interactions", gran: Hour, from: at.AddDate(-1, 0, 0), to: at}); err == nil || !strings.Contains(err.Error(), "more than 5000") {
		t.Errorf("a year of hours: %v", err)
	}
	if _, err := w.try(q{metric: "interactions", gran: Hour, from: at.AddDate(0, 0, -100), to: at.Add(time.Hour), groupBy: []string{"channel", "plan"}}); err == nil || !strings.Contains(err.Error(), "exceed the limit") {
		t.Errorf("100 days of hours by channel and plan: %v", err)
	}
}

// A slow run that read counters before a faster one cannot overwrite the
// newer cube with its older figures.
func TestOlderCubeNeverReplacesNewer(t *testing.T) {
	st := NewMemoryStore()
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	newer := Cube{Family: metric.FamilyVolume, Gran: Hour, Start: start, Source: 7, Cells: metric.Cells{"channel=app": {"n": 7}}}
	older := Cube{Family: metric.FamilyVolume, Gran: Hour, Start: start, Source: 5, Cells: metric.Cells{"channel=app": {"n": 5}}}
	_ = st.PutCube(ctx, newer)
	_ = st.PutCube(ctx, older)
	cs, _ := st.Cubes(ctx, metric.FamilyVolume, Hour, start, start.Add(time.Hour))
	if len(cs) != 1 || cs[0].Cells["channel=app"]["n"] != 7 {
		t.Fatalf("cube %+v", cs)
	}
}
