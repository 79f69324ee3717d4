package ingest

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

// bulkFixture quarantines 300 deliveries, one a minute: 200 with an item
// of kind "exploded" beside a mapped one, then 100 of kind "melted" alone.
func bulkFixture(t *testing.T) (fixture, partial, *Replayer) {
	t.Helper()
	f := newFixture()
	kind := partial{known: map[string]bool{"created": true}}
	f.svc.Channels["partial"] = channel.Channel{Config: channel.Config{ID: "partial"}, Kind: kind}
	at := now
	f.svc.Now = func() time.Time { return at }
	for i := range 300 {
		body := fmt.Sprintf(`[{"id":"a%d","kind":"created","email":"p%d@example.com"},{"id":"b%d","kind":"exploded","email":"p%d@example.com"}]`, i, i, i, i)
		if i >= 200 {
			body = fmt.Sprintf(`[{"id":"c%d","kind":"melted","email":"p%d@example.com"}]`, i, i)
		}
		req := httptest.NewRequest("POST", "/v1/webhooks/partial", strings.NewReader(body))
		req.Header.Set("x-delivery", fmt.Sprintf("d%d", i))
		if w := serve(f.svc, req); w.Code != 202 {
			t.Fatalf("delivery %d: %d %s", i, w.Code, w.Body)
		}
		at = at.Add(time.Minute)
	}
	if len(f.q.rows) != 300 || len(f.b.published) != 200 {
		t.Fatalf("%d rows and %d events, want 300 and 200", len(f.q.rows), len(f.b.published))
	}
	return f, kind, &Replayer{Channels: f.svc.Channels, Archive: archiveReader{f.a}, Quarantine: f.q, Bus: f.b, Now: f.svc.Now}
}

// bulkAll pages through a bulk replay as the CLI does.
func bulkAll(t *testing.T, rp *Replayer, q BulkRequest) BulkReport {
	t.Helper()
	total := BulkReport{DryRun: q.DryRun}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("bulk replay never ends")
		}
		rep, err := rp.Bulk(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		total.Add(rep)
		if rep.Next == "" {
			return total
		}
		q.Cursor = rep.Next
	}
}

func reasonRows(rep BulkReport) map[string][3]int {
	m := map[string][3]int{}
	for _, c := range rep.ByReason {
		m[c.Reason] = [3]int{c.Rows, c.Accepted, c.Events}
	}
	return m
}

func TestBulkReplayDryRunThenReplayOnce(t *testing.T) {
	f, kind, rp := bulkFixture(t)
	exploded, melted := `unknown event type "exploded"`, `unknown event type "melted"`

	// Before the fix a dry run finds every row and nothing a replay would accept.
	rep := bulkAll(t, rp, BulkRequest{Channel: "partial", DryRun: true, Limit: 40})
	if rep.Matched != 300 || rep.Accepted != 0 || rep.Events != 0 || rep.Remaining != 300 {
		t.Fatalf("dry run before the fix: %+v", rep)
	}
	if got := reasonRows(rep); got[exploded] != [3]int{200, 0, 0} || got[melted] != [3]int{100, 0, 0} {
		t.Fatalf("by reason before the fix: %v", got)
	}
	// The mapping learns "exploded": the dry run says what a replay would do, and does none of it.
	kind.known["exploded"] = true
	rep = bulkAll(t, rp, BulkRequest{DryRun: true})
	if got := reasonRows(rep); rep.Matched != 300 || rep.Accepted != 200 || rep.Events != 200 || got[exploded] != [3]int{200, 200, 200} || got[melted] != [3]int{100, 0, 0} {
		t.Fatalf("dry run after the fix: %+v", rep)
	}
	if len(f.b.published) != 200 {
		t.Fatalf("a dry run published %d events", len(f.b.published)-200)
	}
	for _, r := range f.q.rows {
		if r.Replays != 0 || r.State != StateQuarantined {
			t.Fatalf("a dry run changed row %+v", r)
		}
	}
	// Filters: a reason (any case) and a creation-time window [since, until).
	if rep := bulkAll(t, rp, BulkRequest{Reason: "MELTED", DryRun: true}); rep.Matched != 100 || rep.Accepted != 0 {
		t.Fatalf("reason filter: %+v", rep)
	}
	if rep := bulkAll(t, rp, BulkRequest{Since: now.Add(150 * time.Minute), Until: now.Add(250 * time.Minute), DryRun: true}); rep.Matched != 100 || rep.Accepted != 50 {
		t.Fatalf("time window: %+v", rep)
	}
	if rep := bulkAll(t, rp, BulkRequest{Channel: "app", DryRun: true}); rep.Matched != 0 {
		t.Fatalf("channel filter: %+v", rep)
	}

	// The replay publishes each newly mapped item once and records itself on every row.
	rep = bulkAll(t, rp, BulkRequest{Limit: 70})
	if rep.Matched != 300 || rep.Accepted != 200 || rep.Events != 200 || rep.Remaining != 100 || len(rep.Failed) != 0 {
		t.Fatalf("replay: %+v", rep)
	}
	if len(f.b.published) != 400 {
		t.Fatalf("bus has %d events after the replay, want 400", len(f.b.published))
	}
	seen := map[string]bool{}
	for _, e := range f.b.published {
		id := e.Detail.(eventsInteraction).ID
		if seen[id] {
			t.Fatalf("event %s published twice", id)
		}
		seen[id] = true
	}
	for _, r := range f.q.rows {
		want := StateReplayed
		if strings.Contains(r.Reasons0(), "melted") {
			want = StateQuarantined
		}
		if r.State != want || r.Replays != 1 || len(r.History) != 1 || r.History[0].By != "ocx" || !r.History[0].At.Equal(f.svc.Now()) || !r.ReplayingUntil.IsZero() {
			t.Fatalf("row after replay: %+v", r)
		}
	}
	// Running it again publishes nothing twice: replayed rows are left out,
	// the rest still do not map.
	rep = bulkAll(t, rp, BulkRequest{})
	if rep.Matched != 100 || rep.Events != 0 || rep.Accepted != 0 || len(f.b.published) != 400 {
		t.Fatalf("second replay: %+v, bus %d", rep, len(f.b.published))
	}
	for id, r := range f.q.rows {
		if r.State == StateReplayed {
			if res, err := rp.Replay(t.Context(), id); err != nil || len(res.Published) != 0 {
				t.Fatalf("replaying a replayed row: %+v %v", res, err)
			}
			break
		}
	}
	if len(f.b.published) != 400 {
		t.Fatalf("a replayed row published again")
	}
}

// A row another replay holds is not replayed again; the bulk call reports
// it and goes on.
func TestBulkReplaySkipsARowAnotherReplayHolds(t *testing.T) {
	f, kind, rp := bulkFixture(t)
	kind.known["melted"] = true
	var held string
	for id, r := range f.q.rows {
		if strings.Contains(r.Reasons0(), "melted") {
			r.ReplayingUntil = f.svc.Now().Add(time.Minute)
			f.q.rows[id] = r
			held = id
			break
		}
	}
	rep := bulkAll(t, rp, BulkRequest{Reason: "melted"})
	if rep.Matched != 100 || rep.Accepted != 99 || rep.Events != 99 || len(rep.Failed) != 1 || rep.Failed[0].ID != held || !strings.Contains(rep.Failed[0].Error, "another replay") {
		t.Fatalf("bulk with a held row: %+v", rep)
	}
	// The stale claim cannot be overwritten by a writer that read an older count.
	stale := f.q.rows[held]
	if ok, err := f.q.Replace(t.Context(), stale, stale.Replays+1); ok || err != nil {
		t.Fatalf("replace with a stale count: %v %v", ok, err)
	}
}

func TestBulkReplayRoute(t *testing.T) {
	f, kind, rp := bulkFixture(t)
	kind.known["exploded"] = true
	mux := newMux(f, rp)
	post := func(token, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/v1/badrows/replay", bytes.NewBufferString(body))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	if w := post("", `{}`); w.Code != 401 {
		t.Fatalf("unauthenticated: %d", w.Code)
	}
	for _, bad := range []string{`{"limit":500}`, `{"since":"2026-11-23T09:00:00Z","until":"2026-11-23T08:00:00Z"}`, `{"dry_run":"yes"}`} {
		if w := post("tok", bad); w.Code != 400 {
			t.Fatalf("%s: %d %s", bad, w.Code, w.Body)
		}
	}
	w := post("tok", `{"channel":"partial","reason":"exploded","dry_run":true,"limit":200}`)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"examined":200,"matched":100,"accepted":100`) || !strings.Contains(w.Body.String(), `"next":`) || len(f.b.published) != 200 {
		t.Fatalf("dry run: %d %s", w.Code, w.Body)
	}
}

// Reasons0 is the row's first reason, for tests.
func (row BadRow) Reasons0() string {
	if len(row.Reasons) == 0 {
		return ""
	}
	return row.Reasons[0].Reason
}

func TestReasonKeyGroupsAcrossParticulars(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`typeform response 01hq3rz0w4kq8v2c6n9d100239 answers none of the configured questions (nps_ref=other)`, `typeform response * answers none of the configured questions (nps_ref=other)`},
		{`unknown event type "exploded"`, `unknown event type "exploded"`},
		{`score 11 is out of scale 0-10`, `score 11 is out of scale 0-10`},
	} {
		if got := reasonKey(BadRow{Reasons: []Reason{{Reason: "dropped", Kept: true}, {Reason: c.in}}}); got != c.want {
			t.Errorf("reasonKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A call out of time stops within its page and hands back a cursor right
// after the last row it handled: nothing is skipped, nothing done twice.
func TestBulkReplayStopsWithinAPageWhenOutOfTime(t *testing.T) {
	f, kind, rp := bulkFixture(t)
	kind.known["exploded"] = true
	kind.known["melted"] = true
	rp.BulkBudget = time.Nanosecond
	calls := 0
	q := BulkRequest{Limit: 50}
	total := BulkReport{}
	for {
		rep, err := rp.Bulk(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		if rep.Examined != 1 {
			t.Fatalf("call %d examined %d rows, want 1", calls, rep.Examined)
		}
		total.Add(rep)
		if rep.Next == "" {
			break
		}
		q.Cursor = rep.Next
	}
	if calls != 300 || total.Accepted != 300 || total.Events != 300 || len(f.b.published) != 500 {
		t.Fatalf("%d calls: %+v, bus %d", calls, total, len(f.b.published))
	}
}
