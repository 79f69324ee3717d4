package metricstore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/dynamo/backfillstore"

	"github.com/ocxhq/ocx/internal/dynamo/journeystore"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/rollup"
	"github.com/ocxhq/ocx/internal/topology"
)

// opCount counts DynamoDB requests by operation at the HTTP layer.
type opCount struct {
	next aws.HTTPClient
	mu   sync.Mutex
	ops  map[string]int
}

func (c *opCount) Do(r *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	c.mu.Lock()
	c.ops[op]++
	c.mu.Unlock()
	return c.next.Do(r)
}

func (c *opCount) take() (int, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ops := 0, c.ops
	for _, k := range ops {
		n += k
	}
	c.ops = map[string]int{}
	return n, ops
}

// metricsEnv is the rollup function's world against moto_server.
type metricsEnv struct {
	client  *dynamodb.Client
	ops     *opCount
	names   map[string]string
	metrics *Metrics
	tally   *rollup.Tally
	svc     *rollup.Service
	now     time.Time
}

func newMetricsEnv(t testing.TB) *metricsEnv {
	t.Helper()
	cfg := mototest.Config(t)
	ops := &opCount{next: cfg.HTTPClient, ops: map[string]int{}}
	cfg.HTTPClient = ops
	c := dynamodb.NewFromConfig(cfg)
	names := map[string]string{}
	prefix := fmt.Sprintf("m%d-", tableSeq.Add(1))
	for _, tb := range topology.Tables {
		names[tb.Name] = prefix + tb.Name
	}
	if err := dynamo.CreateTables(context.Background(), c, names); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &metricsEnv{client: c, ops: ops, names: names, metrics: NewMetrics(c, names[topology.TableMetrics]),
		now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	e.tally = &rollup.Tally{Store: NewTally(c, names[topology.TableMetrics], names[topology.TableCustomers]), Now: func() time.Time { return e.now }, Log: log}
	e.svc = &rollup.Service{Store: e.metrics, Log: log}
	ops.take()
	return e
}

func (e *metricsEnv) send(t testing.TB, source, typ string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.tally.Count(context.Background(), events.Envelope{ID: "env", Source: source, DetailType: typ, Detail: b}); err != nil {
		t.Fatal(err)
	}
}

func (e *metricsEnv) answer(t testing.TB, id string, score int, at time.Time) {
	t.Helper()
	e.send(t, events.SourceIngest, events.TypeSurveyResponded, events.Interaction{ID: id, Type: events.TypeSurveyResponded, Channel: "typeform",
		OccurredAt: at, Customer: events.Customer{Email: id + "@example.com"}, Attributes: map[string]any{"survey": "nps", "score": float64(score)}})
}

func (e *metricsEnv) series(t testing.TB, name, gran string, from, to time.Time) string {
	t.Helper()
	m, _ := metric.Lookup(name, nil)
	ans, err := rollup.Reader{Cubes: e.metrics}.Query(context.Background(), rollup.Request{Metric: m, Granularity: gran, From: from, To: to, Location: time.UTC, Now: e.now})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ans.Series[0].Points {
		if p.N > 0 {
			out = append(out, fmt.Sprintf("%s=%v/%d", p.Start.Format("02T15"), p.Value, p.N))
		}
	}
	return strings.Join(out, " ")
}

// Counting from bus events and rolling up, against DynamoDB's semantics:
// exact, incremental, each event once.
func TestMetricsCountAndRollUp(t *testing.T) {
	ctx := context.Background()
	e := newMetricsEnv(t)
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	h8, h9 := day.Add(8*time.Hour), day.Add(9*time.Hour)
	e.answer(t, "e1", 6, h8.Add(time.Minute))
	e.answer(t, "e2", 7, h8.Add(20*time.Minute))
	e.answer(t, "e3", 9, h8.Add(59*time.Minute))
	e.answer(t, "e4", 3, h9)
	e.answer(t, "e4", 3, h9) // redelivered
	if _, err := e.svc.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := e.series(t, "nps", rollup.Hour, day, day.AddDate(0, 0, 1)), "23T08=0/3 23T09=-100/1"; got != want {
		t.Errorf("hours %s, want %s", got, want)
	}
	if got, want := e.series(t, "nps", rollup.Day, day, day.AddDate(0, 0, 1)), "23T00=-25/4"; got != want {
		t.Errorf("day %s, want %s", got, want)
	}

	// Idle: one query of the dirty index, nothing else.
	e.ops.take()
	if res, err := e.svc.Run(ctx); err != nil || res.Counters != 0 || res.Points != 0 {
		t.Fatalf("idle run %+v %v", res, err)
	}
	if n, ops := e.ops.take(); n != 1 {
		t.Errorf("idle run made %d requests: %v", n, ops)
	}

	// A late answer: only its slot and the buckets above it are redone.
	e.answer(t, "e5", 10, h8.Add(30*time.Minute))
	res, err := e.svc.Run(ctx)
	if err != nil || res.Points != 2*5 {
		t.Fatalf("late rollup %+v %v, want 10 cubes", res, err)
	}
	if got, want := e.series(t, "nps", rollup.Hour, day, day.AddDate(0, 0, 1)), "23T08=25/4 23T09=-100/1"; got != want {
		t.Errorf("hours after late answer %s, want %s", got, want)
	}

	// A counter the journey function used to write (bare fields, "hour"),
	// left in a kept store, is cleaned from the dirty index and otherwise
	// left alone.
	_, err = e.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(e.names[topology.TableMetrics]), Key: dynamo.ItemKey("counter#"+"survey.nps", h8.Format(time.RFC3339)+"#channel=app"),
		UpdateExpression:          aws.String("SET #d = :d, #da = :now, #fam = :fam, #h = :h, #dims = :dims ADD #v :one, s3 :one"),
		ExpressionAttributeNames:  map[string]string{"#d": topology.DirtyPK, "#da": topology.DirtySK, "#fam": "family", "#h": "hour", "#dims": "dims", "#v": "version"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":d": dynamo.AttrS("1"), ":now": dynamo.AttrS("x"), ":fam": dynamo.AttrS("survey.nps"), ":h": dynamo.AttrS(h8.Format(time.RFC3339)), ":dims": dynamo.AttrS("channel=app"), ":one": dynamo.AttrN(1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := e.svc.Run(ctx); err != nil || res.Counters != 1 || res.Points != 0 {
		t.Fatalf("run over a legacy counter %+v %v", res, err)
	}
	if dirty, _ := e.metrics.Dirty(ctx); len(dirty) != 0 {
		t.Fatalf("%d counters still dirty", len(dirty))
	}
}

// Events of one customer counted concurrently race on the contact record
// and on hot counters; transactions and retries keep every count.
func TestTallyConcurrentEvents(t *testing.T) {
	e := newMetricsEnv(t)
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			e.send(t, events.SourceIngest, "ticket.created", events.Interaction{ID: fmt.Sprint("t", i), Type: "ticket.created", Channel: "zendesk",
				OccurredAt: at.Add(time.Duration(i) * time.Minute), Customer: events.Customer{Email: "ann@example.com"}, Attributes: map[string]any{}})
		})
	}
	wg.Wait()
	if _, err := e.svc.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := e.series(t, "repeat_contact_rate", rollup.Day, at, at.Add(time.Hour)), "23T00=91.67/12"; got != want {
		t.Errorf("repeat rate %s, want %s", got, want)
	}
}

// Contacts by different keys of one customer, linked by the journey
// function, are one history.
func TestTallyResolvesLinkedCustomers(t *testing.T) {
	ctx := context.Background()
	e := newMetricsEnv(t)
	cust := journeystore.NewCustomers(e.client, e.names[topology.TableCustomers], e.names[topology.TableMetrics])
	cid, err := cust.Resolve(ctx, []identity.Key{"email:ann@example.com", "phone:+447946000000"}, e.now)
	if err != nil {
		t.Fatal(err)
	}
	tally := NewTally(e.client, e.names[topology.TableMetrics], e.names[topology.TableCustomers])
	for _, keys := range [][]identity.Key{{"phone:+447946000000"}, {"twilio:SM1", "phone:+447946000000"}} {
		if got, err := tally.CustomerOf(ctx, keys); err != nil || got != cid {
			t.Errorf("CustomerOf(%v) = %s, %v; want %s", keys, got, err, cid)
		}
	}
	if got, _ := tally.CustomerOf(ctx, []identity.Key{"email:new@example.com"}); got != identity.CustomerIDFor("email:new@example.com") {
		t.Errorf("a new customer resolves to %s", got)
	}
}

// Cubes round-trip through their compressed form, and a cube computed
// from older counter versions never replaces a newer one.
func TestCubes(t *testing.T) {
	ctx := context.Background()
	e := newMetricsEnv(t)
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	cells := metric.Cells{}
	for i := range 2000 {
		cells.Add(fmt.Sprintf("channel=c%d&type=t%d", i%40, i), metric.Fields{"n": int64(i)})
	}
	if err := e.metrics.PutCube(ctx, rollup.Cube{Family: "volume", Gran: rollup.Day, Start: start, Cells: cells, Source: 9}); err != nil {
		t.Fatal(err)
	}
	if err := e.metrics.PutCube(ctx, rollup.Cube{Family: "volume", Gran: rollup.Day, Start: start, Cells: metric.Cells{}, Source: 8}); err != nil {
		t.Fatal(err)
	}
	cs, err := e.metrics.Cubes(ctx, "volume", rollup.Day, start, start.AddDate(0, 0, 1))
	if err != nil || len(cs) != 1 || len(cs[0].Cells) != 2000 || cs[0].Cells["channel=c1&type=t1"]["n"] != 1 || cs[0].Source != 9 {
		t.Fatalf("cubes %d, %v", len(cs), err)
	}
	// The next day's cube is not in this day's range.
	_ = e.metrics.PutCube(ctx, rollup.Cube{Family: "volume", Gran: rollup.Day, Start: start.AddDate(0, 0, 1), Cells: cells, Source: 1})
	if cs, _ := e.metrics.Cubes(ctx, "volume", rollup.Day, start, start.AddDate(0, 0, 1)); len(cs) != 1 {
		t.Fatalf("%d cubes in one day", len(cs))
	}
}

// The backfill reads stored interactions and failures and replaces
// counters, raising versions so rolled-up cubes follow.
func TestBackfillOverDynamo(t *testing.T) {
	ctx := context.Background()
	e := newMetricsEnv(t)
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	customers := e.names[topology.TableCustomers]
	store := func(cid string, ev events.Interaction) {
		b, _ := json.Marshal(ev)
		item := dynamo.ItemKey("customer#"+cid, "interaction#"+ev.OccurredAt.Format(time.RFC3339Nano)+"#"+ev.ID)
		item["event"] = dynamo.AttrS(string(b))
		if _, err := e.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(customers), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	for i, score := range []int{9, 10, 2} {
		ev := events.Interaction{ID: fmt.Sprint("s", i), Type: events.TypeSurveyResponded, Channel: "typeform", OccurredAt: day.Add(time.Duration(i) * time.Hour),
			Customer: events.Customer{Email: "a@example.com"}, Attributes: map[string]any{"survey": "nps", "score": float64(score)}}
		store("cus_a", ev)
	}
	// One of them was also counted live, and a phantom besides.
	e.answer(t, "s0", 9, day)
	e.answer(t, "phantom", 0, day.Add(5*time.Hour))
	if _, err := e.svc.Run(ctx); err != nil {
		t.Fatal(err)
	}
	b := &rollup.Backfill{Source: backfillstore.NewBackfillSource(e.client, customers, e.names[topology.TableFailures]), Store: e.metrics, Rollup: e.svc}
	res, err := b.Run(ctx, day, day.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Interactions != 3 || res.Replaced.Raced != 0 {
		t.Errorf("backfill %+v", res)
	}
	if got, want := e.series(t, "nps", rollup.Day, day, day.AddDate(0, 0, 1)), "23T00=33.33/3"; got != want {
		t.Errorf("after backfill %s, want %s", got, want)
	}
}

// A batch is one transaction: events counted in an earlier batch, and the
// same event twice in one batch, are counted once; the rest of the batch
// still counts; a malformed event fails alone.
func TestBatchCountsEachEventOnce(t *testing.T) {
	ctx := context.Background()
	e := newMetricsEnv(t)
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	answer := func(id string, score int) events.Envelope {
		b, _ := json.Marshal(events.Interaction{ID: id, Type: events.TypeSurveyResponded, Channel: "typeform", OccurredAt: at,
			Customer: events.Customer{Email: id + "@example.com"}, Attributes: map[string]any{"survey": "nps", "score": float64(score)}})
		return events.Envelope{ID: "env-" + id, Source: events.SourceIngest, DetailType: events.TypeSurveyResponded, Detail: b}
	}
	for _, err := range e.tally.CountBatch(ctx, []events.Envelope{answer("a", 10), answer("b", 0)}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	e.ops.take()
	poison := events.Envelope{ID: "bad", Source: events.SourceJourney, DetailType: events.TypeJourneyStarted, Detail: []byte(`{"journey":"x"}`)}
	errs := e.tally.CountBatch(ctx, []events.Envelope{answer("b", 0), answer("c", 9), poison, answer("d", 3), answer("c", 9)})
	for i, err := range errs {
		if (err != nil) != (i == 2) {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	// One transaction refused for b's marker, then one for c and d.
	if _, ops := e.ops.take(); ops["TransactWriteItems"] != 2 {
		got := ops["TransactWriteItems"]
		t.Errorf("%d transactions, want 2", got)
	}
	if _, err := e.svc.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.series(t, "nps", "hour", at, at.Add(time.Hour)); got != "23T09=0/4" {
		t.Errorf("nps %s, want 4 answers (a, b, c, d) once each", got)
	}
}
