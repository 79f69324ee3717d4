package rollup

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/metric"
)

// commits records every transaction a store writes.
type commits struct {
	*MemoryStore
	txs []Tx
}

func (c *commits) Commit(ctx context.Context, tx Tx) error {
	err := c.MemoryStore.Commit(ctx, tx)
	if err == nil {
		c.txs = append(c.txs, tx)
	}
	return err
}

// mixedTraffic is a shuffled day of contacts by a few customers (so one
// batch holds several of one customer's), journeys whose steps share
// batches, failures about journey instances and survey answers, with
// some events delivered twice.
func mixedTraffic(t *testing.T) []events.Envelope {
	rng := rand.New(rand.NewPCG(7, 19))
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	at := func() time.Time {
		return day.Add(time.Duration(rng.Int64N(int64(24*time.Hour))) / time.Second * time.Second)
	}
	var out []events.Envelope
	add := func(source, typ string, detail any) {
		b, err := json.Marshal(detail)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, events.Envelope{ID: fmt.Sprint("env-", len(out)), Source: source, DetailType: typ, Detail: b})
	}
	kinds := map[string]string{"zendesk": "ticket.created", "intercom": "conversation.opened", "twilio": "message.received"}
	for i := range 300 {
		ch := []string{"zendesk", "intercom", "twilio"}[rng.IntN(3)]
		add(events.SourceIngest, kinds[ch], events.Interaction{ID: fmt.Sprint("c", i), Type: kinds[ch], Channel: ch, OccurredAt: at(),
			Customer: events.Customer{Email: fmt.Sprintf("cust%d@example.com", rng.IntN(12))}, Attributes: map[string]any{"plan": []string{"pro", "free"}[rng.IntN(2)]}})
	}
	for i := range 150 {
		add(events.SourceIngest, events.TypeSurveyResponded, events.Interaction{ID: fmt.Sprint("s", i), Type: events.TypeSurveyResponded, Channel: "typeform",
			OccurredAt: at(), Customer: events.Customer{Email: fmt.Sprintf("s%d@example.com", i)}, Attributes: map[string]any{"survey": "nps", "score": float64(rng.IntN(11))}})
	}
	for i := range 40 {
		inst := fmt.Sprint("o", i)
		placed := at()
		shipped := placed.Add(time.Duration(1+rng.IntN(7200)) * time.Second)
		step := func(typ, stage, prev string, entered time.Time, exited *time.Time, when time.Time) {
			add(events.SourceJourney, typ, events.JourneyEvent{ID: fmt.Sprintf("j_%s_%s_%s", inst, typ, stage), Type: typ, Journey: "order-to-delivery",
				Instance: inst, Team: "logistics", Stage: stage, PreviousStage: prev, EnteredAt: entered, ExitedAt: exited, OccurredAt: when, CustomerID: "cus_1", Channel: "shopify"})
		}
		step(events.TypeJourneyStarted, "placed", "", placed, nil, placed)
		step(events.TypeJourneyStageChanged, "shipped", "placed", shipped, &shipped, shipped)
		if i%4 == 0 {
			add(events.SourceRules, events.TypeFailureDetected, events.Failure{ID: fmt.Sprint("flr_", i), RuleID: "order.stalled", Team: "logistics",
				Severity: "warning", DetectedAt: shipped, Labels: map[string]string{"channel": "shopify"},
				History: []events.FailureStep{{State: "open", At: shipped}},
				Evidence: []events.Evidence{{EventID: "j", Type: events.TypeJourneyStageChanged, Channel: "shopify", OccurredAt: shipped,
					Attributes: map[string]any{"journey": "order-to-delivery", "instance": inst, "stage": "shipped", "team": "logistics"}}}})
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	for i := 0; i < len(out); i += 9 {
		out = append(out, out[i]) // redelivered
	}
	return out
}

// stateOf is what a store holds, one line per counter (zero fields
// dropped: +1 then -1 is no change) and record, sorted.
func stateOf(m *MemoryStore) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k, c := range m.counters {
		f := metric.Fields{}
		for name, v := range c.c.Fields {
			if v != 0 {
				f[name] = v
			}
		}
		b, _ := json.Marshal(f)
		out = append(out, fmt.Sprintf("counter %s %s %d: %s", k.family, k.dims, k.start, b))
	}
	for k, r := range m.contacts {
		b, _ := json.Marshal(r.v)
		out = append(out, fmt.Sprintf("contacts %s: %s", k, b)) // versions differ: fewer writes
	}
	for k, r := range m.insts {
		b, _ := json.Marshal(r.v)
		out = append(out, fmt.Sprintf("instance %s: %s", k, b))
	}
	out = append(out, fmt.Sprintf("counted %d", len(m.counted)))
	sort.Strings(out)
	return out
}

// firstDifference is the first line where got and want differ.
func firstDifference(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("line %d:\n got %s\nwant %s", i, g, w)
		}
	}
	return ""
}

// Counting in batches, as the bus queue hands events over, leaves exactly
// the counters and records counting one event at a time leaves, in fewer
// transactions, each within DynamoDB's limit and writing a counter once.
func TestBatchesCountAsOneAtATime(t *testing.T) {
	traffic := mixedTraffic(t)
	ctx := context.Background()
	now := func() time.Time { return time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC) }

	one := &commits{MemoryStore: NewMemoryStore()}
	single := &Tally{Store: one, Attributes: []string{"plan"}, Now: now, Log: quiet}
	for _, env := range traffic {
		if err := single.Count(ctx, env); err != nil {
			t.Fatal(err)
		}
	}

	rec := &commits{MemoryStore: NewMemoryStore()}
	batched := &Tally{Store: rec, Attributes: []string{"plan"}, Now: now, Log: quiet}
	for i := 0; i < len(traffic); i += 100 {
		batch := traffic[i:min(i+100, len(traffic))]
		for j, err := range batched.CountBatch(ctx, batch) {
			if err != nil {
				t.Fatalf("event %s: %v", batch[j].ID, err)
			}
		}
	}
	if d := firstDifference(stateOf(rec.MemoryStore), stateOf(one.MemoryStore)); d != "" {
		t.Fatalf("batched counting differs at %s", d)
	}
	counterWrites := 0
	for _, tx := range rec.txs {
		if n := tx.items(); n > MaxTxItems {
			t.Fatalf("a transaction of %d writes", n)
		}
		merged := metric.Merge(tx.Deltas)
		counterWrites += len(merged)
	}
	unbatched := 0
	for _, tx := range one.txs {
		unbatched += len(metric.Merge(tx.Deltas))
	}
	t.Logf("%d events in %d transactions (%d one at a time); %d counter writes (%d one at a time)", len(traffic), len(rec.txs), len(one.txs), counterWrites, unbatched)
	if len(rec.txs)*5 > len(one.txs) || counterWrites >= unbatched {
		t.Fatalf("batching did not pay: %d transactions, %d counter writes", len(rec.txs), counterWrites)
	}
}

// A malformed event fails alone; a redelivered one is not counted again;
// their neighbours are counted once.
func TestBatchPoisonAndRedeliveryStayAlone(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	ev := func(id string, score int) events.Envelope {
		b, _ := json.Marshal(events.Interaction{ID: id, Type: events.TypeSurveyResponded, Channel: "typeform", OccurredAt: at,
			Customer: events.Customer{Email: id + "@example.com"}, Attributes: map[string]any{"survey": "nps", "score": float64(score)}})
		return events.Envelope{ID: "env-" + id, Source: events.SourceIngest, DetailType: events.TypeSurveyResponded, Detail: b}
	}
	if err := w.tally.Count(ctx, ev("a", 10)); err != nil {
		t.Fatal(err)
	}
	poison := events.Envelope{ID: "bad", Source: events.SourceJourney, DetailType: events.TypeJourneyStarted, Detail: []byte(`{"journey":"x"}`)}
	errs := w.tally.CountBatch(ctx, []events.Envelope{ev("a", 10), ev("b", 0), poison, ev("c", 9)})
	if errs[0] != nil || errs[1] != nil || errs[3] != nil || errs[2] == nil || !strings.Contains(errs[2].Error(), "journey, instance and stage are required") {
		t.Fatalf("errors %v, want only the malformed one", errs)
	}
	w.run()
	p := w.query(q{metric: "nps", gran: Day, from: at, to: at.Add(time.Hour)}).Series[0].Points[0]
	if p.N != 3 {
		t.Fatalf("nps counted %d answers, want a, b and c once each", p.N)
	}
}

// A transaction that loses a race on a record is planned again from what
// the store now holds.
func TestBatchRetriesAConflict(t *testing.T) {
	st := &racing{MemoryStore: NewMemoryStore()}
	tally := &Tally{Store: st, Now: func() time.Time { return time.Unix(0, 0) }, Log: quiet}
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var batch []events.Envelope
	for i := range 3 {
		b, _ := json.Marshal(events.Interaction{ID: fmt.Sprint("t", i), Type: "ticket.created", Channel: "zendesk", OccurredAt: at.Add(time.Duration(i) * time.Minute),
			Customer: events.Customer{Email: "ann@example.com"}, Attributes: map[string]any{}})
		batch = append(batch, events.Envelope{ID: fmt.Sprint("e", i), Source: events.SourceIngest, DetailType: "ticket.created", Detail: b})
	}
	for _, err := range tally.CountBatch(context.Background(), batch) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st.conflicts != 1 {
		t.Fatalf("%d conflicts", st.conflicts)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, r := range st.contacts {
		if len(r.v.List) != 4 || r.n != 2 {
			t.Fatalf("contacts %+v at version %d, want the racing one and the batch's three", r.v.List, r.n)
		}
	}
}

// racing lets another writer change the customer's contacts just before
// the first commit.
type racing struct {
	*MemoryStore
	conflicts int
}

func (r *racing) Commit(ctx context.Context, tx Tx) error {
	if r.conflicts == 0 && len(tx.Contacts) > 0 {
		r.conflicts++
		other, _ := json.Marshal(events.Interaction{ID: "other", Type: "ticket.created", Channel: "zendesk", OccurredAt: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC),
			Customer: events.Customer{Email: "ann@example.com"}, Attributes: map[string]any{}})
		t := &Tally{Store: r.MemoryStore, Now: func() time.Time { return time.Unix(0, 0) }, Log: quiet}
		if err := t.Count(ctx, events.Envelope{ID: "o", Source: events.SourceIngest, DetailType: "ticket.created", Detail: other}); err != nil {
			return err
		}
	}
	return r.MemoryStore.Commit(ctx, tx)
}

// A journey event's marker is its instance's record when that record was
// first written by folding: no marker item, and a redelivery in a later
// batch is found in the record and counts nothing. A record written before
// records folded keeps using markers, and so does a long instance once
// its record holds maxFolded digests.
func TestJourneyEventsFoldIntoTheirInstanceRecord(t *testing.T) {
	ctx := context.Background()
	st := &commits{MemoryStore: NewMemoryStore()}
	tally := &Tally{Store: st, Now: func() time.Time { return time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC) }, Log: quiet}
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	step := func(inst, typ, stage, prev string, n int) events.Envelope {
		entered := at.Add(time.Duration(n) * time.Minute)
		var exited *time.Time
		if prev != "" {
			exited = &entered
		}
		b, _ := json.Marshal(events.JourneyEvent{ID: fmt.Sprintf("j_%s_%d", inst, n), Type: typ, Journey: "order-to-delivery", Instance: inst, Team: "logistics",
			Stage: stage, PreviousStage: prev, EnteredAt: entered, ExitedAt: exited, OccurredAt: entered, CustomerID: "cus_1", Channel: "shopify"})
		return events.Envelope{ID: fmt.Sprintf("env-%s-%d", inst, n), Source: events.SourceJourney, DetailType: typ, Detail: b}
	}
	count := func(batch ...events.Envelope) {
		t.Helper()
		for i, err := range tally.CountBatch(ctx, batch) {
			if err != nil {
				t.Fatalf("event %s: %v", batch[i].ID, err)
			}
		}
	}
	started, shipped := step("o1", events.TypeJourneyStarted, "placed", "", 0), step("o1", events.TypeJourneyStageChanged, "shipped", "placed", 30)
	count(started, shipped, started)
	count(shipped)
	if n := len(st.counted); n != 0 {
		t.Fatalf("%d marker items for events folded into their record", n)
	}
	rec, _, _ := st.Instance(ctx, metric.InstanceKey("order-to-delivery", "o1"))
	if !rec.Folds || len(rec.Counted) != 2 || len(rec.Reached) != 2 {
		t.Fatalf("record %+v, want both events folded and each stage reached once", rec)
	}
	if len(st.txs) != 1 {
		t.Fatalf("%d transactions, want one: the redelivery in a later batch writes nothing", len(st.txs))
	}

	// A record as written before folding: markers, as then.
	st.insts[metric.InstanceKey("order-to-delivery", "o2")] = versioned[metric.Instance]{v: metric.Instance{Team: "logistics", Reached: []string{"placed"}}, n: 1}
	count(step("o2", events.TypeJourneyStageChanged, "shipped", "placed", 40))
	count(step("o2", events.TypeJourneyStageChanged, "shipped", "placed", 40))
	if n := len(st.counted); n != 1 {
		t.Fatalf("%d markers for an event of a record that does not fold, want 1", n)
	}

	// A long instance: the first maxFolded events fold, the rest get markers.
	var long []events.Envelope
	for n := range maxFolded + 3 {
		long = append(long, step("o3", events.TypeJourneyStageChanged, "shipped", "placed", 100+n))
	}
	count(long...)
	count(long...)
	rec, _, _ = st.Instance(ctx, metric.InstanceKey("order-to-delivery", "o3"))
	if len(rec.Counted) != maxFolded || len(st.counted) != 1+3 {
		t.Fatalf("%d digests and %d markers, want %d and %d", len(rec.Counted), len(st.counted), maxFolded, 1+3)
	}
}
