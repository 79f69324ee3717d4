package localstack_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/localstack"
)

// bulkReplay pages POST /v1/badrows/replay as `ocx replay` does.
func bulkReplay(t *testing.T, st *localstack.Stack, q ingest.BulkRequest) ingest.BulkReport {
	t.Helper()
	total := ingest.BulkReport{DryRun: q.DryRun}
	for range 100 {
		b, _ := json.Marshal(q)
		req, _ := http.NewRequest("POST", st.URL+"/v1/badrows/replay", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer test-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page ingest.BulkReport
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("bulk replay: %d %v", resp.StatusCode, err)
		}
		total.Add(page)
		if page.Next == "" {
			return total
		}
		q.Cursor = page.Next
	}
	t.Fatal("bulk replay never ends")
	return total
}

// A provider's form changes under OCX: a few hundred responses are
// quarantined. After the mapping is fixed a dry run says what a replay
// would do and does nothing; the replay publishes each row's events once,
// records itself on every row, and running it again publishes nothing.
func TestBulkReplayAfterMappingFix(t *testing.T) {
	const n = 240
	cfgDir := t.TempDir()
	writeConfig(t, cfgDir, "nps_ref: other")
	state := t.TempDir()
	adjust := func(c *localstack.Config) {
		c.Secrets = nil
		c.ConfigDir = cfgDir
		c.RollupEvery = time.Hour
	}
	st := startWith(t, state, "", adjust)
	chans, err := channel.Load(os.DirFS(cfgDir), "channels.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tf channel.Channel
	for _, c := range chans {
		if c.ID == "typeform" {
			tf = c
		}
	}
	sample, _ := os.ReadFile("../channel/typeform/testdata/nps_response.json")
	d := delivery{channel: "typeform", fixture: "typeform/testdata/nps_response.json"}
	begin := time.Now()
	for i := range n {
		body := strings.ReplaceAll(string(sample), "01HQ3RZ1AJ8G1XK2M5T7V9B0CD", fmt.Sprintf("01HQ3RZ1AJ8G1XK2M5T7V%05d", i))
		body = strings.ReplaceAll(body, "01hq3rz0w4kq8v2c6n9d1f5g7h", fmt.Sprintf("01hq3rz0w4kq8v2c6n9d1%05d", i))
		if code, acc := post(t, st, tf, d, []byte(body), false); code != http.StatusAccepted || acc.Quarantined == 0 || len(acc.EventIDs) != 0 {
			t.Fatalf("response %d: %d %+v, want 202 with everything quarantined", i, code, acc)
		}
	}
	t.Logf("%d responses quarantined in %s", n, time.Since(begin).Round(time.Millisecond))
	st.Stop()

	writeConfig(t, cfgDir, "nps_ref: nps")
	st = startWith(t, state, "", adjust)
	defer st.Stop()
	st.Meter().Reset()

	begin = time.Now()
	plan := bulkReplay(t, st, ingest.BulkRequest{Channel: "typeform", DryRun: true, Limit: 100})
	if plan.Matched != n || plan.Accepted != n || plan.Remaining != 0 || plan.Events < n || len(plan.ByReason) != 1 || plan.ByReason[0].Accepted != n {
		t.Fatalf("dry run: %d matched, %d accepted, %d events, %d reasons (first %+v)", plan.Matched, plan.Accepted, plan.Events, len(plan.ByReason), plan.ByReason[0])
	}
	if none := bulkReplay(t, st, ingest.BulkRequest{Channel: "typeform", Reason: "no such reason", DryRun: true}); none.Matched != 0 || none.Examined != n {
		t.Fatalf("reason filter: %+v", none)
	}
	t.Logf("dry run over %d rows in %s", n, time.Since(begin).Round(time.Millisecond))
	st.Router().Idle()
	if put := st.Meter().Snapshot()["eventbridge events put"]; put != 0 {
		t.Fatalf("the dry run put %d events", put)
	}

	begin = time.Now()
	done := bulkReplay(t, st, ingest.BulkRequest{Channel: "typeform", Limit: 100})
	if done.Matched != n || done.Accepted != n || done.Events != plan.Events || len(done.Failed) != 0 {
		t.Fatalf("replay: %+v, want what the dry run said: %+v", done, plan)
	}
	t.Logf("replayed %d rows (%d events) in %s", n, done.Events, time.Since(begin).Round(time.Millisecond))
	st.Router().Idle()
	// Downstream functions publish what the responses cause (a detractor's
	// failure), so the bus carries at least the replayed events.
	put := st.Meter().Snapshot()["eventbridge events put"]
	if put < done.Events {
		t.Fatalf("the replay put %d events, want at least %d", put, done.Events)
	}

	again := bulkReplay(t, st, ingest.BulkRequest{Channel: "typeform"})
	st.Router().Idle()
	if again.Matched != 0 || again.Events != 0 || st.Meter().Snapshot()["eventbridge events put"] != put {
		t.Fatalf("a second replay: %+v, %d events put in all, %d before", again, st.Meter().Snapshot()["eventbridge events put"], put)
	}
	if left := badRows(t, st); len(left) != 0 {
		t.Fatalf("%d rows still quarantined", len(left))
	}
	var page ingest.BadRowsPage
	if code := apiCall(t, st, "GET", "/v1/badrows?state=replayed&limit=5", nil, &page); code != 200 || len(page.BadRows) != 5 {
		t.Fatalf("replayed rows: %d %d", code, len(page.BadRows))
	}
	for _, r := range page.BadRows {
		if r.Replays != 1 || len(r.History) != 1 || r.History[0].Published == 0 || r.History[0].By == "" {
			t.Fatalf("row does not record its replay: %+v", r)
		}
	}
	// A replayed row replayed again by id publishes nothing.
	var res ingest.ReplayResult
	if code := apiCall(t, st, "POST", "/v1/badrows/"+page.BadRows[0].ID+"/replay", nil, &res); code != 200 || len(res.Published) != 0 {
		t.Fatalf("replaying a replayed row: %d %+v", code, res)
	}
	st.Router().Idle()
	if now := st.Meter().Snapshot()["eventbridge events put"]; now != put {
		t.Fatalf("%d events put after replaying a replayed row, %d before", now, put)
	}
}
