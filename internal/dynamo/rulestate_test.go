package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/dynamo/failurestore"
	"github.com/ocxhq/ocx/internal/dynamo/rulestore"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/team"
	"github.com/ocxhq/ocx/internal/topology"
)

var ruleT0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func ruleFailure(id string, at time.Time) events.Failure {
	return failure.Opened(events.Failure{ID: id, RuleID: "r", Description: "d", Severity: "warning", Team: "cx-support",
		Labels: map[string]string{"rule": "r"}, DetectedAt: at, Key: "k",
		Evidence: []events.Evidence{{EventID: "e1", Type: "t", OccurredAt: at}}}, "rule r")
}

func TestRuleStateCommitConditions(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	st := rulestore.NewRuleState(c, names[topology.TableRules], names[topology.TableFailures])
	fs := failurestore.NewFailures(c, names[topology.TableFailures])
	outbox := failurestore.NewOutbox(c, names[topology.TableFailures])
	k := rules.StateKey{Rule: "r", Key: "customer.email=ann@example.com"}

	got, err := st.Load(ctx, []rules.StateKey{k, k})
	if err != nil || got[k].Version != 0 {
		t.Fatalf("load of a new key = %+v, %v", got, err)
	}
	due := ruleT0.Add(4 * time.Hour)
	s1 := rules.State{Due: due, Failure: "flr_x", Expires: ruleT0.Add(48 * time.Hour)}
	f := ruleFailure("flr_000000000000000000000001", ruleT0)
	commit := rules.Commit{States: []rules.Keyed{{StateKey: k, State: s1}},
		Failures: []events.Failure{f}, Messages: []failure.Message{failure.NewMessage(f, ruleT0)}}
	if err := st.Commit(ctx, commit); err != nil {
		t.Fatal(err)
	}
	// The same commit again, from a stale read: a conflict, nothing written.
	if err := st.Commit(ctx, commit); !errors.Is(err, rules.ErrConflict) {
		t.Fatalf("stale commit = %v, want ErrConflict", err)
	}
	// A failure that exists already conflicts too, whatever the states.
	if err := st.Commit(ctx, rules.Commit{Failures: []events.Failure{f}}); !errors.Is(err, rules.ErrConflict) {
		t.Fatalf("second creation of a failure = %v, want ErrConflict", err)
	}
	got, _ = st.Load(ctx, []rules.StateKey{k})
	if got[k].Version != 1 || !got[k].Due.Equal(due) || got[k].Failure != "flr_x" {
		t.Fatalf("stored state %+v", got[k])
	}
	// A single state commit is a plain conditional put.
	s2 := got[k]
	s2.Due = time.Time{}
	if err := st.Commit(ctx, rules.Commit{States: []rules.Keyed{{StateKey: k, State: s2}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx, rules.Commit{States: []rules.Keyed{{StateKey: k, State: s2}}}); !errors.Is(err, rules.ErrConflict) {
		t.Fatalf("stale single put = %v, want ErrConflict", err)
	}

	// The failure and its message are there; a repeat counts.
	if err := st.Commit(ctx, rules.Commit{Repeats: []rules.Repeat{{Failure: f.ID, At: ruleT0.Add(time.Hour)}}}); err != nil {
		t.Fatal(err)
	}
	stored, err := fs.Get(ctx, f.ID)
	if err != nil || stored.Occurrences != 2 || !stored.LastSeenAt.Equal(ruleT0.Add(time.Hour)) || stored.State != failure.Open {
		t.Fatalf("stored failure %+v, %v", stored, err)
	}
	msgs, err := outbox.Due(ctx, ruleT0.Add(failure.Lease+time.Second), 10)
	if err != nil || len(msgs) != 1 || msgs[0].DetailType != events.TypeFailureDetected || msgs[0].Failure.ID != f.ID {
		t.Fatalf("outbox = %+v, %v", msgs, err)
	}
}

func TestRuleStateListings(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	st := rulestore.NewRuleState(c, names[topology.TableRules], names[topology.TableFailures])
	var ks []rules.Keyed
	for i, d := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
		ks = append(ks, rules.Keyed{StateKey: rules.StateKey{Rule: "r", Key: string(rune('a' + i))},
			State: rules.State{Due: ruleT0.Add(d), Expires: ruleT0.Add(72 * time.Hour)}})
	}
	ks = append(ks, rules.Keyed{StateKey: rules.StateKey{Rule: "rate", Key: "channel=sendgrid"}, State: rules.State{Watch: true, Open: true}})
	if err := st.Commit(ctx, rules.Commit{States: ks}); err != nil {
		t.Fatal(err)
	}
	due, err := st.Due(ctx, ruleT0.Add(2*time.Hour), 10)
	if err != nil || len(due) != 2 || due[0].Key != "a" || due[1].Key != "b" || due[0].State.Version != 1 {
		t.Fatalf("due at 2h = %+v, %v", due, err)
	}
	if due, _ := st.Due(ctx, ruleT0.Add(2*time.Hour), 1); len(due) != 1 {
		t.Fatalf("limit 1 gave %d", len(due))
	}
	w, err := st.Watched(ctx, "rate")
	if err != nil || len(w) != 1 || w[0].Key != "channel=sendgrid" {
		t.Fatalf("watched = %v, %v", w, err)
	}
	m := ruleT0.Truncate(time.Minute)
	last := &events.Evidence{EventID: "b9", Type: "email.bounced", OccurredAt: m}
	for i, id := range []string{"s0", "s1", "s2", "s1"} { // s1 redelivered
		tl := rules.Tally{Rule: "rate", Key: "channel=sendgrid", Minute: m, Total: 1}
		if i == 2 {
			tl.Bad, tl.Last = 1, last
		}
		if err := st.Count(ctx, tl, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Count(ctx, rules.Tally{Rule: "rate", Key: "channel=sendgrid", Minute: m.Add(-time.Hour), Total: 5}, "old"); err != nil {
		t.Fatal(err)
	}
	ts, err := st.Tallies(ctx, "rate", m.Add(-15*time.Minute))
	if err != nil || len(ts) != 1 || ts[0].Total != 3 || ts[0].Bad != 1 || ts[0].Last == nil || ts[0].Last.EventID != "b9" || !ts[0].Minute.Equal(m) {
		t.Fatalf("tallies = %+v, %v", ts, err)
	}
}

func TestFailuresLifecycleAndListing(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	fs := failurestore.NewFailures(c, names[topology.TableFailures])
	outbox := failurestore.NewOutbox(c, names[topology.TableFailures])
	st := rulestore.NewRuleState(c, names[topology.TableRules], names[topology.TableFailures])
	var created []events.Failure
	for i := range 3 {
		f := ruleFailure("flr_00000000000000000000000"+string(rune('1'+i)), ruleT0.Add(time.Duration(i)*time.Minute))
		if i == 2 {
			f.Team = "payments"
		}
		created = append(created, f)
	}
	if err := st.Commit(ctx, rules.Commit{Failures: created}); err != nil {
		t.Fatal(err)
	}
	b := &ruleBus{}
	svc := &failure.Service{Store: fs, Announcer: &failure.Announcer{Outbox: outbox, Bus: b, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		Now: func() time.Time { return ruleT0.Add(time.Hour) }}
	if _, err := svc.Acknowledge(ctx, created[0].ID, "slack:U1", "on it"); err != nil {
		t.Fatal(err)
	}
	f, err := svc.Resolve(ctx, created[0].ID, "slack:U1", "done")
	if err != nil || f.State != failure.Resolved || len(f.History) != 3 {
		t.Fatalf("resolve = %+v, %v", f, err)
	}
	if _, err := svc.Acknowledge(ctx, created[0].ID, "x", ""); !errors.Is(err, failure.ErrTransition) {
		t.Fatalf("acknowledge after resolve = %v", err)
	}
	if _, err := fs.Get(ctx, "flr_missing"); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("get of a missing failure = %v", err)
	}
	// A transition from a state the failure is no longer in conflicts.
	stale := created[1]
	stale.State = failure.Resolved
	if err := fs.Transition(ctx, stale, failure.Acknowledged, failure.NewMessage(stale, ruleT0)); !errors.Is(err, failure.ErrConflict) {
		t.Fatalf("stale transition = %v", err)
	}
	if len(b.evs) != 2 {
		t.Fatalf("published %d lifecycle events, want 2", len(b.evs))
	}
	if msgs, _ := outbox.Due(ctx, ruleT0.Add(24*time.Hour), 10); len(msgs) != 0 {
		t.Fatalf("sent messages left in the outbox: %v", msgs)
	}

	ids := func(fl []events.Failure) []string {
		var out []string
		for _, f := range fl {
			out = append(out, f.ID)
		}
		return out
	}
	page, next, err := fs.List(ctx, failure.Filter{}, "", 2)
	if err != nil || len(page) != 2 || page[0].ID != created[2].ID || next == "" {
		t.Fatalf("first page %v next %q, %v", ids(page), next, err)
	}
	page, _, err = fs.List(ctx, failure.Filter{}, next, 2)
	if err != nil || len(page) != 1 || page[0].ID != created[0].ID || page[0].State != failure.Resolved {
		t.Fatalf("second page %v, %v", ids(page), err)
	}
	if page, _, _ := fs.List(ctx, failure.Filter{State: failure.Open, Team: "cx-support"}, "", 10); len(page) != 1 || page[0].ID != created[1].ID {
		t.Fatalf("open cx-support failures %v", ids(page))
	}
	if _, _, err := fs.List(ctx, failure.Filter{}, "garbage!", 10); !errors.Is(err, failure.ErrBadCursor) {
		t.Fatalf("bad cursor = %v", err)
	}
	// Outbox claims: one claimant wins.
	m := failure.NewMessage(created[1], ruleT0)
	if err := st.Commit(ctx, rules.Commit{Messages: []failure.Message{m}, Repeats: []rules.Repeat{{Failure: created[1].ID, At: ruleT0}}}); err != nil {
		t.Fatal(err)
	}
	later := ruleT0.Add(failure.Lease + time.Minute)
	if ok, err := outbox.Claim(ctx, m.ID, ruleT0, later); err != nil || ok {
		t.Fatalf("claim within the lease = %v, %v", ok, err)
	}
	var wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			ok, err := outbox.Claim(ctx, m.ID, later, later.Add(failure.Lease))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d claims won, want 1", wins)
	}
}

type ruleBus struct {
	mu  sync.Mutex
	evs []events.Event
}

func (b *ruleBus) Publish(_ context.Context, evs ...events.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.evs = append(b.evs, evs...)
	return nil
}

func (b *ruleBus) count(typ string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, e := range b.evs {
		if e.DetailType == typ {
			n++
		}
	}
	return n
}

// shippedRuleService runs the shipped rule pack against the tables.
func shippedRuleService(t testing.TB, names map[string]string, db *dynamodb.Client, now func() time.Time) (*rules.Service, *ruleBus) {
	t.Helper()
	reg, err := team.Load(config.Shipped, "teams.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var teams []string
	for _, tm := range reg.All() {
		teams = append(teams, tm.ID)
	}
	rs, err := rules.Load(config.Shipped, "rules", teams)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.NewEngine(rs)
	if err != nil {
		t.Fatal(err)
	}
	b := &ruleBus{}
	fs := failurestore.NewFailures(db, names[topology.TableFailures])
	outbox := failurestore.NewOutbox(db, names[topology.TableFailures])
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ann := &failure.Announcer{Outbox: outbox, Bus: b, Log: log}
	return &rules.Service{Engine: eng, Store: rulestore.NewRuleState(db, names[topology.TableRules], names[topology.TableFailures]),
		Failures: &failure.Service{Store: fs, Announcer: ann, Now: now}, Announcer: ann, Now: now, Log: log}, b
}

func ingestEnvelope(t testing.TB, id, typ, channel string, cust events.Customer, at time.Time, attrs map[string]any) events.Envelope {
	b, err := json.Marshal(events.Interaction{ID: id, Type: typ, Channel: channel, OccurredAt: at, ReceivedAt: at, Customer: cust, Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	return events.Envelope{ID: "env-" + id, Source: events.SourceIngest, DetailType: typ, Time: at, Resources: []string{}, Detail: b}
}

var scheduled = events.Envelope{Source: events.TickSource, DetailType: events.TickType, Detail: []byte("{}")}

// The shipped pack against DynamoDB: a count, a deadline fired by the
// schedule exactly once and resolved by the late reply, and a rate spike
// raised and resolved, each announced once.
func TestShippedRulesOnDynamoDB(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	now := ruleT0
	svc, b := shippedRuleService(t, names, c, func() time.Time { return now })
	ann := events.Customer{Email: "ann@example.com"}
	send := func(ev events.Envelope) {
		t.Helper()
		if err := svc.Handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	tick := func() {
		t.Helper()
		if err := svc.Handle(ctx, scheduled); err != nil {
			t.Fatal(err)
		}
	}
	send(ingestEnvelope(t, "p1", "payment.failed", "stripe", ann, now, nil))
	p2 := ingestEnvelope(t, "p2", "payment.failed", "stripe", ann, now.Add(time.Hour), nil)
	send(p2)
	send(p2) // redelivered
	send(ingestEnvelope(t, "t1", "ticket.created", "zendesk", events.Customer{ID: "381"}, now, map[string]any{"ticket_id": "100"}))

	now = now.Add(4*time.Hour - time.Minute)
	tick()
	if n := b.count(events.TypeFailureDetected); n != 1 {
		t.Fatalf("%d failures before the deadline, want 1 (payments)", n)
	}
	now = now.Add(time.Minute)
	tick()
	tick()
	if n := b.count(events.TypeFailureDetected); n != 2 {
		t.Fatalf("%d failures after the deadline, want 2", n)
	}
	now = now.Add(30 * time.Minute)
	send(ingestEnvelope(t, "t2", "ticket.replied", "zendesk", events.Customer{ID: "381"}, now, map[string]any{"ticket_id": "100", "author": "agent", "public": true}))
	if n := b.count(events.TypeFailureResolved); n != 1 {
		t.Fatalf("%d failures resolved after the reply, want 1", n)
	}

	// 60 sends and 4 bounces on one channel within a minute: 6.7 %.
	for i := range 60 {
		send(ingestEnvelope(t, "s"+strconv.Itoa(i), "email.sent", "sendgrid", events.Customer{Email: "x" + strconv.Itoa(i) + "@example.com"}, now, nil))
	}
	for i := range 4 {
		send(ingestEnvelope(t, "b"+strconv.Itoa(i), "email.bounced", "sendgrid", events.Customer{Email: "x" + strconv.Itoa(i) + "@example.com"}, now, nil))
	}
	before := b.count(events.TypeFailureDetected) // 4 email.bounced match failures
	tick()
	if n := b.count(events.TypeFailureDetected) - before; n != 1 {
		t.Fatalf("%d rate failures, want 1", n)
	}
	now = now.Add(16 * time.Minute)
	tick()
	tick()
	if n := b.count(events.TypeFailureResolved); n != 2 {
		t.Fatalf("%d resolved after the window emptied, want 2", n)
	}
	fs := failurestore.NewFailures(c, names[topology.TableFailures])

	open, _, err := fs.List(ctx, failure.Filter{State: failure.Open}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"payment.failed_twice": 1, "email.bounced": 4}
	got := map[string]int{}
	for _, f := range open {
		got[f.RuleID]++
	}
	if len(got) != len(want) || got["payment.failed_twice"] != 1 || got["email.bounced"] != 4 {
		t.Fatalf("open failures by rule %v, want %v", got, want)
	}
}

// A rate rule's busy minute stays small: its count is spread over shards
// that keep no ids, a redelivered event counts nothing, and the minute
// reads back as one tally.
func TestRateTallyDoesNotGrowWithItsEvents(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	st := rulestore.NewRuleState(c, names[topology.TableRules], names[topology.TableFailures])
	m := ruleT0.Truncate(time.Minute)
	for round := range 2 { // the second is every event redelivered
		for i := range 120 {
			tl := rules.Tally{Rule: "rate", Key: "channel=sendgrid", Minute: m, Total: 1}
			if i%10 == 0 {
				tl.Bad, tl.Last = 1, &events.Evidence{EventID: fmt.Sprint("b", i), Type: "email.bounced", OccurredAt: m.Add(time.Duration(i) * time.Second)}
			}
			if err := st.Count(ctx, tl, fmt.Sprint("e", i)); err != nil {
				t.Fatalf("round %d, event %d: %v", round, i, err)
			}
		}
	}
	ts, err := st.Tallies(ctx, "rate", m)
	if err != nil || len(ts) != 1 || ts[0].Total != 120 || ts[0].Bad != 12 || ts[0].Last == nil || ts[0].Last.EventID != "b110" {
		t.Fatalf("tallies = %+v, %v", ts, err)
	}
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(names[topology.TableRules]),
		FilterExpression:          aws.String("begins_with(pk, :p)"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":p": &ddb.AttributeValueMemberS{Value: "tally#rate#channel=sendgrid#"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) < 2 {
		t.Fatalf("%d tally items: the minute is not spread over shards", len(out.Items))
	}
	for _, it := range out.Items {
		if b, _ := json.Marshal(it); len(b) > 1024 {
			t.Fatalf("a tally shard holds %d bytes: %s", len(b), b)
		}
	}
}

// Upcoming lists the deadlines in a half-open window of the due index,
// soonest first: the scheduled run arms the wake-ups of one minute's.
func TestRuleStateUpcomingDeadlines(t *testing.T) {
	ctx := context.Background()
	c, names := newTables(t)
	st := rulestore.NewRuleState(c, names[topology.TableRules], names[topology.TableFailures])
	var states []rules.Keyed
	for i, d := range []time.Duration{14 * time.Minute, 14*time.Minute + 30*time.Second, 15 * time.Minute, 15*time.Minute + time.Second} {
		states = append(states, rules.Keyed{StateKey: rules.StateKey{Rule: "r", Key: fmt.Sprintf("k%d", i)},
			State: rules.State{Due: ruleT0.Add(d), Expires: ruleT0.Add(48 * time.Hour)}})
	}
	for _, s := range states {
		if err := st.Commit(ctx, rules.Commit{States: []rules.Keyed{s}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Upcoming(ctx, ruleT0.Add(14*time.Minute), ruleT0.Add(15*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, k := range got {
		keys = append(keys, k.Key)
	}
	if fmt.Sprint(keys) != "[k1 k2]" {
		t.Fatalf("upcoming in (14m, 15m]: %v, want [k1 k2]", keys)
	}
}
