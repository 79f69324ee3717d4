// Package capacity_test checks on paper, through the real domain code, that no
// single DynamoDB item is written faster than a partition allows at a
// retailer's Black Friday burst (docs/capacity.md).
package capacity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	shipped "github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/dispatch"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/rollup"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/team"
	"github.com/ocxhq/ocx/internal/testclock"
	"github.com/ocxhq/ocx/internal/topology"
)

// The model: webhooks are simulated spread evenly over simSeconds, then
// every rate of an item shared by many customers is multiplied by scale to
// stand for the burst. A customer's own items (profile, journey instance,
// rule state) are not scaled: a burst brings more customers, not busier
// ones, so the simulated population grows with the simulated volume.
const (
	simWebhooks = 6000
	simSeconds  = 60
	burstRate   = 10000 // webhooks/s: 1,000/s sustained, 10× burst
	scale       = burstRate / (simWebhooks / simSeconds)
	// eventsPerCustomer sets the population: each customer sends about
	// this many webhooks in the simulated minute.
	eventsPerCustomer = 4
	// ingestInstances is the ingest function's concurrency at the burst
	// (10,000/s × ~50 ms) over scale: each instance keeps its own intake
	// tally and writes it once per channel and minute.
	ingestInstances = 500 / scale
)

// DynamoDB's limits on one partition, and so on one item, which never
// spans two (docs/capacity.md cites them).
const (
	partitionWCU = 1000
	partitionRCU = 3000
	itemMaxBytes = 400 * 1024
)

// kind is one line of the traffic mix: a Black Friday retailer's share of
// webhooks per channel and type, in thousandths.
type kind struct {
	channel, typ string
	share        int
}

var mix = []kind{
	{"shopify", "order.created", 150},
	{"shopify", "order.fulfilled", 100},
	{"shopify", "order.delivered", 50},
	{"stripe", "payment.succeeded", 140},
	{"stripe", "payment.failed", 15},
	{"sendgrid", "email.sent", 295},
	{"sendgrid", "email.bounced", 5},
	{"twilio", "message.received", 30},
	{"twilio", "message.failed", 5},
	{"zendesk", "ticket.created", 40},
	{"zendesk", "ticket.replied", 40},
	{"zendesk", "ticket.solved", 20},
	{"intercom", "conversation.opened", 30},
	{"app", "call.completed", 10},
	{"typeform", "survey.responded", 30},
	{"app", "account.created", 40},
}

// rollupBatch is the rollup's batch at a burst: its bus queue's batch size
// (the batching window passes long after it fills).
var rollupBatch = func() int {
	f, _ := topology.FunctionByName(topology.Rollup)
	return f.Bus.BatchSize
}()

// exceeding are the items the current design writes faster than DynamoDB
// allows at the burst, with why and what fixes them. The test fails if
// one of them stops exceeding (update the doc and this table) and if any
// other item exceeds.
var exceeding = map[string]string{}

type rig struct {
	t       *testing.T
	clock   *testclock.Clock
	w       *writes
	queue   []events.Event
	ingest  *ingest.Service
	tallies []*ingest.Tally
	journey *journey.Service
	rules   *rules.Service
	rollup  *rollup.Tally
	notify  *notify.Service
	groups  *groupStore
	nextID  int
	// published counts the events put on the bus per source.
	published map[string]int
	// counting holds the rollup's events until its bus queue's batch is
	// full, as the event source mapping does at a burst.
	counting []events.Envelope
}

// countBatch hands the rollup the events held for it.
func (r *rig) countBatch(ctx context.Context) {
	for i, err := range r.rollup.CountBatch(ctx, r.counting) {
		if err != nil {
			r.t.Fatalf("rollup %s: %v", r.counting[i].ID, err)
		}
	}
	r.counting = r.counting[:0]
}

// Publish implements events.Publisher: the bus, in process, in order.
func (r *rig) Publish(_ context.Context, evs ...events.Event) error {
	r.queue = append(r.queue, evs...)
	for _, ev := range evs {
		r.published[ev.Source]++
	}
	return nil
}

func newRig(t *testing.T, start time.Time) *rig {
	r := &rig{t: t, clock: testclock.New(start), published: map[string]int{}}
	r.w = newWrites()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	teams, err := team.Load(shipped.Shipped, config.Teams)
	if err != nil {
		t.Fatalf("load teams: %v", err)
	}
	defs, err := journey.Load(shipped.Shipped, config.Journeys, teams.IDs())
	if err != nil {
		t.Fatalf("load journeys: %v", err)
	}
	cat, err := journey.NewCatalog(defs)
	if err != nil {
		t.Fatalf("compile journeys: %v", err)
	}
	rs, err := rules.Load(shipped.Shipped, config.Rules, teams.IDs())
	if err != nil {
		t.Fatalf("load rules: %v", err)
	}
	eng, err := rules.NewEngine(rs)
	if err != nil {
		t.Fatalf("compile rules: %v", err)
	}
	routes, err := dispatch.Load(shipped.Shipped, config.Routes, teams.IDs())
	if err != nil {
		t.Fatalf("load routes: %v", err)
	}

	chans := map[string]channel.Channel{}
	for _, k := range mix {
		chans[k.channel] = channel.Channel{Config: channel.Config{ID: k.channel, Kind: standardwebhooks.Kind}, Kind: standardwebhooks.Scheme{}}
	}
	for i := range ingestInstances {
		tl := ingest.NewTally(r, tallyStore{r.w}, log)
		tl.Instance = "i" + strconv.Itoa(i)
		r.tallies = append(r.tallies, tl)
	}
	r.ingest = &ingest.Service{
		Channels: chans, Secrets: secrets{}, Archive: archive{}, Raw: archive{},
		Ledger: &ledger{w: r.w, state: map[string]string{}, ids: map[string][]string{}, topic: map[string]string{}},
		Bus:    r, Now: r.clock.Now, Log: log,
	}
	r.journey = &journey.Service{
		Store:    &journeyStore{w: r.w, owners: map[identity.Key]string{}, applied: map[string]bool{}, insts: map[journey.Ref]journey.Instance{}},
		Journeys: cat, Bus: r, Retention: 400 * 24 * time.Hour, Now: r.clock.Now, Log: log,
	}
	mem := failure.NewMemory()
	ann := &failure.Announcer{Outbox: mem, Bus: r, Log: log}
	r.rules = &rules.Service{
		Engine: eng, Store: ruleStore{rules.NewMemoryStore(mem), r.w},
		Failures: &failure.Service{Store: mem, Announcer: ann, Now: r.clock.Now}, Announcer: ann,
		Now: r.clock.Now, Log: log,
	}
	r.rollup = &rollup.Tally{Store: rollupStore{rollup.NewMemoryStore(), r.w}, Now: r.clock.Now, Log: log}
	r.groups = &groupStore{w: r.w, groups: map[string]notify.Group{}, members: map[string][]notify.Member{}}
	r.notify = &notify.Service{
		Teams: teams, Routes: routes, Silences: noSilences{}, Notifiers: []notify.Notifier{&sink{}},
		Groups: r.groups,
		Ledger: sendLedger{r.w}, Dead: dead{}, Metrics: noMetrics{}, Now: r.clock.Now, Log: log,
		Sleep: func(context.Context, time.Duration) error { return nil },
	}
	return r
}

var secret = standardwebhooks.EncodeSecret([]byte("capacity-model-key"))

type secrets struct{}

func (secrets) List(context.Context, string) ([]string, error) { return []string{secret}, nil }

// archive is S3: one PUT per webhook, no DynamoDB item.
type archive struct{}

func (archive) Put(_ context.Context, key string, _ []byte) (string, error) {
	return "s3://raw/" + key, nil
}

func (archive) Append(_ context.Context, channel, id string, _ []byte) (string, error) {
	return "firehose://raw-" + channel + "/2026/11/27/10/00/00/" + id, nil
}

// post delivers one webhook through the ingest function's HTTP handler,
// on the ingest instance inst, and then drains the bus through the
// consumers as EventBridge would.
func (r *rig) post(ctx context.Context, inst int, ch, id string, body []byte) {
	key, err := standardwebhooks.DecodeSecret(secret)
	if err != nil {
		r.t.Fatalf("decode secret: %v", err)
	}
	now := r.clock.Now()
	req := httptest.NewRequest(http.MethodPost, "/v1/webhooks/"+ch, strings.NewReader(string(body)))
	req.SetPathValue("channel", ch)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standardwebhooks.HeaderID, id)
	req.Header.Set(standardwebhooks.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderSignature, "v1,"+standardwebhooks.Sign(key, id, now.Unix(), body))
	// Each ingest instance keeps its own tally, as each Lambda
	// environment does.
	r.ingest.Tally = r.tallies[inst]
	rec := httptest.NewRecorder()
	r.ingest.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		r.t.Fatalf("webhook %s on %s: %d %s", id, ch, rec.Code, rec.Body)
	}
	r.drain(ctx)
}

// drain hands every published event to the functions its rules route
// it to: interactions to journey, rules and rollup; journey events and
// intake tallies to rules and rollup; failures to rollup and notify.
func (r *rig) drain(ctx context.Context) {
	for len(r.queue) > 0 {
		ev := r.queue[0]
		r.queue = r.queue[1:]
		b, err := json.Marshal(ev.Detail)
		if err != nil {
			r.t.Fatalf("encode %s: %v", ev.DetailType, err)
		}
		r.nextID++
		env := events.Envelope{ID: fmt.Sprintf("env-%08d", r.nextID), Source: ev.Source, DetailType: ev.DetailType, Time: ev.Time, Detail: b}
		if ev.Source == events.SourceIngest {
			var in events.Interaction
			if err := json.Unmarshal(b, &in); err != nil {
				r.t.Fatalf("decode interaction: %v", err)
			}
			if err := r.journey.Apply(ctx, in); err != nil {
				r.t.Fatalf("journey: %v", err)
			}
		}
		if err := r.rules.Handle(ctx, env); err != nil {
			r.t.Fatalf("rules: %v", err)
		}
		if r.counting = append(r.counting, env); len(r.counting) == rollupBatch {
			r.countBatch(ctx)
		}
		if strings.HasPrefix(ev.DetailType, "failure.") {
			var f events.Failure
			if err := json.Unmarshal(b, &f); err != nil {
				r.t.Fatalf("decode failure: %v", err)
			}
			if err := r.notify.Observe(ctx, ev.DetailType, f); err != nil {
				r.t.Fatalf("notify: %v", err)
			}
		}
	}
}
