package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/configfile"
	"github.com/ocxhq/ocx/internal/failure"
)

// Rule unit tests, in the spirit of `promtool test rules`: given these
// events at these times, expect these failures and no others. A file holds
// a list of tests:
//
//	tests:
//	  - name: three contacts in a week are a repeat contact
//	    start: 2026-01-05T09:00:00Z   # the clock's origin (default 2026-01-05T00:00:00Z)
//	    interval: 1m                  # how often the schedule runs (default 1m)
//	    until: 5d                     # run the schedule this long (default: last event + interval)
//	    events:
//	      - at: 0s                    # when it happened, from start
//	        delivered: 2h             # when it reached the rules, if later (out-of-order tests)
//	        type: ticket.created      # detail-type
//	        source: ocx.ingest        # the default; ocx.journey for journey events
//	        channel: zendesk          # default app
//	        id: t1                    # default e<n>; repeat an id to redeliver an event
//	        customer: {email: ann@example.com}
//	        attributes: {ticket_id: "1"}
//	        detail: {...}             # a whole detail instead (journey events); occurred_at is filled in
//	        sla: 4h                   # journey events: sla_due_at = at + sla
//	        repeat: 50                # send 50 copies with ids <id>.1..50,
//	        every: 10s                # this far apart
//	    expect:
//	      - rule: contact.repeat
//	        key: customer.email=ann@example.com   # optional
//	        at: 2d                                # optional: when it was detected
//	        evidence: [e1, e2, e3]                # optional: the evidence's event ids
//	        state: open                           # optional: its state at the end
//	        occurrences: 2                        # optional
//
// Tests run the real Service against in-memory stores with a simulated
// clock, the schedule running every interval.

// TestFile is one file of rule unit tests.
type TestFile struct {
	Tests []TestCase `yaml:"tests"`
}

// TestCase is one scenario.
type TestCase struct {
	Name     string      `yaml:"name"`
	Start    string      `yaml:"start"`
	Interval string      `yaml:"interval"`
	Until    string      `yaml:"until"`
	Events   []TestEvent `yaml:"events"`
	Expect   []Expected  `yaml:"expect"`
}

// TestEvent is an event a test sends.
type TestEvent struct {
	At         string          `yaml:"at"`
	Delivered  string          `yaml:"delivered"`
	ID         string          `yaml:"id"`
	Source     string          `yaml:"source"`
	Type       string          `yaml:"type"`
	Channel    string          `yaml:"channel"`
	Customer   events.Customer `yaml:"customer"`
	Attributes map[string]any  `yaml:"attributes"`
	Detail     map[string]any  `yaml:"detail"`
	SLA        string          `yaml:"sla"`
	Repeat     int             `yaml:"repeat"`
	Every      string          `yaml:"every"`
}

// Expected is a failure a test expects.
type Expected struct {
	Rule        string   `yaml:"rule"`
	Key         string   `yaml:"key"`
	At          string   `yaml:"at"`
	Evidence    []string `yaml:"evidence"`
	State       string   `yaml:"state"`
	Occurrences int      `yaml:"occurrences"`
}

// TestResult is the outcome of one test.
type TestResult struct {
	File     string
	Line     int
	Name     string
	Problems []string
}

// Passed reports whether the test found nothing wrong.
func (r TestResult) Passed() bool { return len(r.Problems) == 0 }

// DefaultTestStart is the clock's origin when a test names none.
var DefaultTestStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// RunTestFiles runs every test in the named files of fsys against rules.
// A file that does not parse is an error; a test that fails is a result.
func RunTestFiles(ctx context.Context, fsys fs.FS, files []string, rules []Rule) ([]TestResult, error) {
	eng, err := NewEngine(rules)
	if err != nil {
		return nil, err
	}
	var out []TestResult
	var ps configfile.Problems
	for _, f := range files {
		root, err := configfile.Read(fsys, f)
		if err != nil {
			return nil, err
		}
		for _, it := range configfile.Items[TestCase](f, root, "tests", &ps) {
			res := TestResult{File: f, Line: it.Node.Line, Name: it.Value.Name}
			if res.Name == "" {
				res.Name = fmt.Sprintf("test at line %d", it.Node.Line)
			}
			res.Problems = runTest(ctx, eng, it.Value)
			out = append(out, res)
		}
	}
	return out, ps.Err()
}

// recorder is a bus that keeps what was published.
type recorder struct {
	mu  sync.Mutex
	evs []events.Event
}

func (r *recorder) Publish(_ context.Context, evs ...events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, evs...)
	return nil
}

type delivery struct {
	delivered time.Time
	env       events.Envelope
}

func runTest(ctx context.Context, eng *Engine, tc TestCase) []string {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	start := DefaultTestStart
	if tc.Start != "" {
		t, err := time.Parse(time.RFC3339, tc.Start)
		if err != nil {
			return []string{fmt.Sprintf("start %q: want RFC 3339", tc.Start)}
		}
		start = t.UTC()
	}
	offset := func(what, s string, def time.Duration) time.Duration {
		if s == "" {
			return def
		}
		d, err := ParseDuration(s)
		if err != nil {
			fail("%s: %v", what, err)
		}
		return d
	}
	interval := offset("interval", tc.Interval, time.Minute)
	if interval <= 0 {
		return []string{"interval must be positive"}
	}
	deliveries, err := testDeliveries(tc.Events, start, offset)
	if err != nil {
		fail("%v", err)
	}
	if len(problems) > 0 {
		return problems
	}
	end := start
	for _, d := range deliveries {
		end = maxTime(end, d.delivered.Add(interval))
	}
	if tc.Until != "" {
		end = start.Add(offset("until", tc.Until, 0))
	}

	var now time.Time
	clock := func() time.Time { return now }
	mem := failure.NewMemory()
	rec := &recorder{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ann := &failure.Announcer{Outbox: mem, Bus: rec, Log: log}
	svc := &Service{Engine: eng, Store: NewMemoryStore(mem), Failures: &failure.Service{Store: mem, Announcer: ann, Now: clock},
		Announcer: ann, Now: clock, Log: log}

	next := 0
	for tick := start; !tick.After(end); tick = tick.Add(interval) {
		for next < len(deliveries) && !deliveries[next].delivered.After(tick) {
			now = deliveries[next].delivered
			if err := svc.Handle(ctx, deliveries[next].env); err != nil {
				fail("event %s: %v", deliveries[next].env.ID, err)
			}
			next++
		}
		now = tick
		if err := svc.Handle(ctx, events.Envelope{Source: events.TickSource, DetailType: events.TickType, Time: tick, Detail: []byte("{}")}); err != nil {
			fail("schedule at %s: %v", tick.Sub(start), err)
		}
	}
	if next < len(deliveries) {
		fail("%d events are delivered after until", len(deliveries)-next)
	}
	return append(problems, compare(tc.Expect, rec.evs, mem, start)...)
}

func testDeliveries(evs []TestEvent, start time.Time, offset func(string, string, time.Duration) time.Duration) ([]delivery, error) {
	var out []delivery
	for i, te := range evs {
		if te.Type == "" {
			return nil, fmt.Errorf("event %d has no type", i+1)
		}
		at := start.Add(offset(fmt.Sprintf("event %d at", i+1), te.At, 0))
		late := offset(fmt.Sprintf("event %d delivered", i+1), te.Delivered, 0)
		every := offset(fmt.Sprintf("event %d every", i+1), te.Every, time.Second)
		id := te.ID
		if id == "" {
			id = fmt.Sprintf("e%d", i+1)
		}
		copies := max(te.Repeat, 1)
		for c := range copies {
			eid := id
			if te.Repeat > 0 {
				eid = fmt.Sprintf("%s.%d", id, c+1)
			}
			when := at.Add(time.Duration(c) * every)
			delivered := when
			if te.Delivered != "" {
				delivered = start.Add(late).Add(time.Duration(c) * every)
			}
			env, err := testEnvelope(te, eid, when, delivered)
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", i+1, err)
			}
			out = append(out, delivery{delivered: delivered, env: env})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].delivered.Before(out[j].delivered) })
	return out, nil
}

func testEnvelope(te TestEvent, id string, at, delivered time.Time) (events.Envelope, error) {
	source := te.Source
	if source == "" {
		source = events.SourceIngest
	}
	var detail any
	if te.Detail != nil {
		d := map[string]any{}
		for k, v := range te.Detail {
			d[k] = v
		}
		if _, ok := d["occurred_at"]; !ok {
			d["occurred_at"] = at.Format(time.RFC3339Nano)
		}
		if te.SLA != "" {
			sla, err := ParseDuration(te.SLA)
			if err != nil {
				return events.Envelope{}, fmt.Errorf("sla: %w", err)
			}
			d["sla_due_at"] = at.Add(sla).Format(time.RFC3339Nano)
		}
		detail = d
	} else {
		channel := te.Channel
		if channel == "" {
			channel = "app"
		}
		attrs := te.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		detail = events.Interaction{ID: id, Type: te.Type, Channel: channel, OccurredAt: at, ReceivedAt: delivered,
			Customer: te.Customer, Attributes: attrs, DeliveryID: id}
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return events.Envelope{}, fmt.Errorf("encode detail: %w", err)
	}
	return events.Envelope{ID: id, DetailType: te.Type, Source: source,
		Time: at, Resources: []string{}, Detail: b}, nil
}

// compare matches what was published against what a test expects.
func compare(want []Expected, published []events.Event, mem *failure.Memory, start time.Time) []string {
	var problems []string
	seen := map[string]int{}
	var detected []events.Failure
	for _, e := range published {
		f, ok := e.Detail.(events.Failure)
		if !ok {
			continue
		}
		seen[f.ID+" "+e.DetailType]++
		if seen[f.ID+" "+e.DetailType] == 2 {
			problems = append(problems, fmt.Sprintf("%s published more than once for failure %s (rule %s)", e.DetailType, f.ID, f.RuleID))
		}
		if e.DetailType == events.TypeFailureDetected && seen[f.ID+" "+e.DetailType] == 1 {
			detected = append(detected, f)
		}
	}
	if n := len(mem.All()); n != len(detected) {
		problems = append(problems, fmt.Sprintf("%d failures stored but %d announced", n, len(detected)))
	}
	used := make([]bool, len(detected))
	describe := func(f events.Failure) string {
		ids := make([]string, len(f.Evidence))
		for i, e := range f.Evidence {
			ids[i] = e.EventID
		}
		return fmt.Sprintf("%s key=%s at=%s evidence=[%s]", f.RuleID, f.Key, offsetOf(f.DetectedAt, start), strings.Join(ids, " "))
	}
	for _, w := range want {
		found := -1
		for i, f := range detected {
			if !used[i] && matches(w, f, start) {
				found = i
				break
			}
		}
		if found < 0 {
			var raised []string
			for i, f := range detected {
				if !used[i] && f.RuleID == w.Rule {
					raised = append(raised, describe(f))
				}
			}
			msg := fmt.Sprintf("expected a failure of %s", w.Rule)
			if w.Key != "" {
				msg += " key=" + w.Key
			}
			if w.At != "" {
				msg += " at=" + w.At
			}
			if w.Evidence != nil {
				msg += " evidence=[" + strings.Join(w.Evidence, " ") + "]"
			}
			if len(raised) > 0 {
				msg += "; the rule raised " + strings.Join(raised, ", ")
			} else {
				msg += "; the rule raised none"
			}
			problems = append(problems, msg)
			continue
		}
		used[found] = true
		f, err := mem.Get(context.Background(), detected[found].ID)
		if err != nil {
			problems = append(problems, fmt.Sprintf("failure %s: %v", detected[found].ID, err))
			continue
		}
		if w.State != "" && f.State != w.State {
			problems = append(problems, fmt.Sprintf("failure of %s (%s) is %s at the end, want %s", w.Rule, f.Key, f.State, w.State))
		}
		if w.State == failure.Resolved && seen[f.ID+" "+events.TypeFailureResolved] != 1 {
			problems = append(problems, fmt.Sprintf("failure of %s (%s) is resolved but failure.resolved was published %d times", w.Rule, f.Key, seen[f.ID+" "+events.TypeFailureResolved]))
		}
		if w.Occurrences != 0 && f.Occurrences != w.Occurrences {
			problems = append(problems, fmt.Sprintf("failure of %s (%s) occurred %d times, want %d", w.Rule, f.Key, f.Occurrences, w.Occurrences))
		}
	}
	for i, f := range detected {
		if !used[i] {
			problems = append(problems, "unexpected failure "+describe(f))
		}
	}
	return problems
}

func matches(w Expected, f events.Failure, start time.Time) bool {
	if f.RuleID != w.Rule || (w.Key != "" && f.Key != w.Key) {
		return false
	}
	if w.At != "" {
		d, err := ParseDuration(w.At)
		if err != nil || !f.DetectedAt.Equal(start.Add(d)) {
			return false
		}
	}
	if w.Evidence != nil {
		var ids []string
		for _, e := range f.Evidence {
			ids = append(ids, e.EventID)
		}
		if !slices.Equal(ids, w.Evidence) {
			return false
		}
	}
	return true
}

// offsetOf writes t as an offset from start, the way tests write times.
func offsetOf(t, start time.Time) string {
	d := t.Sub(start)
	if d%(24*time.Hour) == 0 && d != 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// TestFiles lists the test files under dir of fsys (dir/*.yaml).
func TestFiles(fsys fs.FS, dir string) ([]string, error) {
	files, err := fs.Glob(fsys, strings.TrimSuffix(dir, "/")+"/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list rule test files in %s: %w", dir, err)
	}
	return files, nil
}
