package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/httpjson"
)

// In-memory collaborators: this is a pure unit test of the edge's answers;
// the DynamoDB, S3 and EventBridge adapters are tested against moto.

type secretsMap map[string][]string

func (m secretsMap) List(_ context.Context, name string) ([]string, error) {
	if v, ok := m[name]; ok {
		return v, nil
	}
	return nil, errors.New("no such secret")
}

type memLedger struct {
	mu     sync.Mutex
	state  map[string]string
	ids    map[string][]string
	topics map[string]string
}

func (l *memLedger) Seen(_ context.Context, ch, d string) (Seen, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state[ch+d] == "done" {
		return Seen{Done: true, EventIDs: l.ids[ch+d], Topic: l.topics[ch+d]}, nil
	}
	return Seen{}, nil
}

func (l *memLedger) Complete(_ context.Context, ch, d string, ids []string, topic string, _ time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state[ch+d], l.ids[ch+d], l.topics[ch+d] = "done", ids, topic
	return nil
}

type memArchive struct {
	objects map[string][]byte
	fail    bool
}

func (a *memArchive) Put(_ context.Context, key string, body []byte) (string, error) {
	if a.fail {
		return "", errors.New("s3 unavailable")
	}
	a.objects[key] = body
	return "s3://raw/" + key, nil
}

// Append keeps a raw record under the reference it returns, as the
// Firehose archive names it.
func (a *memArchive) Append(_ context.Context, ch, id string, record []byte) (string, error) {
	if a.fail {
		return "", errors.New("archive record to stream test-raw-" + ch + ": ServiceUnavailableException")
	}
	ref := "firehose://test-raw-" + ch + "/2026/11/23/08/" + id
	a.objects[ref] = record
	return ref, nil
}

type memQuarantine struct {
	rows map[string]BadRow
	fail bool
}

func (q *memQuarantine) Put(_ context.Context, row BadRow) error {
	if q.fail {
		return errors.New("dynamodb throttled")
	}
	q.rows[row.ID] = row
	return nil
}

func (q *memQuarantine) Get(_ context.Context, id string) (BadRow, bool, error) {
	r, ok := q.rows[id]
	return r, ok, nil
}

func (q *memQuarantine) Replace(_ context.Context, row BadRow, replays int) (bool, error) {
	if q.fail {
		return false, errors.New("dynamodb throttled")
	}
	if cur, ok := q.rows[row.ID]; !ok || cur.Replays != replays {
		return false, nil
	}
	q.rows[row.ID] = row
	return true, nil
}

func (q *memQuarantine) After(row BadRow, _ string) string {
	return row.CreatedAt.UTC().Format(time.RFC3339Nano) + "#" + row.ID
}

// List pages newest first as the DynamoDB store does: the cursor is the
// last row's sort key, so rows leaving the state do not shift pages.
func (q *memQuarantine) List(_ context.Context, f Filter, cursor string, limit int) ([]BadRow, string, error) {
	sortKey := func(r BadRow) string { return r.CreatedAt.UTC().Format(time.RFC3339Nano) + "#" + r.ID }
	state := f.State
	if state == "" {
		state = StateQuarantined
	}
	var out []BadRow
	for _, r := range q.rows {
		if (f.Channel == "" || f.Channel == r.Channel) && (f.State == "" || r.State == state) &&
			(f.Since.IsZero() || !r.CreatedAt.Before(f.Since)) && (f.Until.IsZero() || r.CreatedAt.Before(f.Until)) &&
			(cursor == "" || sortKey(r) < cursor) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b BadRow) int { return strings.Compare(sortKey(b), sortKey(a)) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		return out, sortKey(out[limit-1]), nil
	}
	return out, "", nil
}

type memBus struct {
	published []events.Event
	fail      bool
}

func (b *memBus) Publish(_ context.Context, evs ...events.Event) error {
	if b.fail {
		return errors.New("2 entries failed: ThrottlingException")
	}
	b.published = append(b.published, evs...)
	return nil
}

var (
	now    = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	secret = standardwebhooks.EncodeSecret([]byte("test-key-0123456789"))
)

type fixture struct {
	svc *Service
	l   *memLedger
	a   *memArchive
	b   *memBus
	q   *memQuarantine
}

func newFixture() fixture {
	f := fixture{
		l: &memLedger{state: map[string]string{}, ids: map[string][]string{}, topics: map[string]string{}},
		a: &memArchive{objects: map[string][]byte{}},
		b: &memBus{},
		q: &memQuarantine{rows: map[string]BadRow{}},
	}
	f.svc = &Service{
		Channels: map[string]channel.Channel{"app": {Config: channel.Config{ID: "app", Kind: standardwebhooks.Kind}, Kind: standardwebhooks.Scheme{}}},
		Secrets:  secretsMap{"channel/app": {"whsec_b2xk", secret}, "channel/partial": {secret}},
		Ledger:   f.l, Raw: f.a, Archive: f.a, Bus: f.b, Quarantine: f.q,
		Now: func() time.Time { return now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return f
}

func signed(method, path, id string, at time.Time, body string) *http.Request {
	key, _ := standardwebhooks.DecodeSecret(secret)
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set(standardwebhooks.HeaderID, id)
	r.Header.Set(standardwebhooks.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	r.Header.Set(standardwebhooks.HeaderSignature, "v1,"+standardwebhooks.Sign(key, id, at.Unix(), []byte(body)))
	r.Header.Set("Authorization", "Bearer should-not-be-archived")
	return r
}

func serve(s *Service, r *http.Request) *httptest.ResponseRecorder {
	mux := http.NewServeMux()
	mux.Handle("/v1/webhooks/{channel}", s)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w
}

const npsBody = `{"type":"survey.responded","customer":{"id":"u1","email":"a@b.c"},"occurred_at":"2026-11-23T07:59:00Z","attributes":{"survey":"nps","score":3}}`

func TestAnswers(t *testing.T) {
	cases := []struct {
		name    string
		req     func() *http.Request
		setup   func(fixture)
		status  int
		message string
		kept    bool // a quarantined copy is expected
	}{
		{"valid", func() *http.Request { return signed("POST", "/v1/webhooks/app", "m1", now, npsBody) }, nil, 202, "", false},
		{"tampered body", func() *http.Request {
			r := signed("POST", "/v1/webhooks/app", "m1", now, npsBody)
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(npsBody, `"score":3`, `"score":9`, 1)))
			return r
		}, nil, 401, "signature does not verify", false},
		{"stale", func() *http.Request {
			return signed("POST", "/v1/webhooks/app", "m1", now.Add(-6*time.Minute), npsBody)
		}, nil, 401, "timestamp outside tolerance", false},
		{"unsigned", func() *http.Request {
			return httptest.NewRequest("POST", "/v1/webhooks/app", strings.NewReader(npsBody))
		}, nil, 401, "webhook-signature", false},
		{"malformed JSON", func() *http.Request { return signed("POST", "/v1/webhooks/app", "m1", now, `{"type":`) }, nil, 400, "malformed payload", true},
		{"missing field", func() *http.Request {
			return signed("POST", "/v1/webhooks/app", "m1", now, `{"type":"a.b","occurred_at":"2026-11-23T07:59:00Z","customer":{}}`)
		}, nil, 400, "customer needs at least one", true},
		{"malformed and quarantine down", func() *http.Request { return signed("POST", "/v1/webhooks/app", "m1", now, `{"type":`) }, func(f fixture) { f.q.fail = true }, 503, "dynamodb throttled", false},
		{"wrong content type", func() *http.Request {
			r := signed("POST", "/v1/webhooks/app", "m1", now, npsBody)
			r.Header.Set("Content-Type", "text/xml")
			return r
		}, nil, 415, "content type", false},
		{"unknown channel", func() *http.Request { return signed("POST", "/v1/webhooks/nope", "m1", now, npsBody) }, nil, 404, `unknown channel "nope"`, false},
		{"too big", func() *http.Request {
			return signed("POST", "/v1/webhooks/app", "m1", now, `{"pad":"`+strings.Repeat("x", MaxBody)+`"}`)
		}, nil, 413, "body over", false},
		{"wrong method", func() *http.Request { return httptest.NewRequest("GET", "/v1/webhooks/app", nil) }, nil, 405, "not allowed", false},
		{"bus down", func() *http.Request { return signed("POST", "/v1/webhooks/app", "m1", now, npsBody) }, func(f fixture) { f.b.fail = true }, 503, "ThrottlingException", false},
		{"archive down", func() *http.Request { return signed("POST", "/v1/webhooks/app", "m1", now, npsBody) }, func(f fixture) { f.a.fail = true }, 503, "ServiceUnavailableException", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture()
			if c.setup != nil {
				c.setup(f)
			}
			w := serve(f.svc, c.req())
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("content type %q", w.Header().Get("Content-Type"))
			}
			if c.status == 202 {
				return
			}
			var e httpjson.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Status != c.status || !strings.Contains(e.Error.Message, c.message) {
				t.Fatalf("error body %s, want status %d and %q", w.Body, c.status, c.message)
			}
			// Nothing is kept from a rejected request, and a failed attempt
			// leaves the delivery free for the provider's retry.
			if len(f.b.published) != 0 {
				t.Fatalf("rejected request published %d events", len(f.b.published))
			}
			if len(f.l.state) != 0 {
				t.Fatalf("rejected request left ledger state %v", f.l.state)
			}
			if c.kept != (len(f.q.rows) == 1) || (c.kept && len(f.a.objects) != 1) {
				t.Fatalf("quarantined %d rows, archived %d objects; want a kept copy: %v", len(f.q.rows), len(f.a.objects), c.kept)
			}
			if !c.kept && c.status < 500 && len(f.a.objects) != 0 {
				t.Fatalf("rejected request archived %d objects", len(f.a.objects))
			}
			if c.status >= 500 && w.Header().Get("Retry-After") == "" {
				t.Fatal("5xx without Retry-After")
			}
		})
	}
}

func TestAcceptedPublishesArchivesAndDedupes(t *testing.T) {
	f := newFixture()
	s, a, b := f.svc, f.a, f.b
	body := `[` + npsBody + `,{"type":"order.created","customer":{"phone":"+15551234567"},"occurred_at":"2026-11-23T07:00:00Z"}]`
	w := serve(s, signed("POST", "/v1/webhooks/app", "msg_42", now, body))
	if w.Code != 202 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var acc Accepted
	if err := json.Unmarshal(w.Body.Bytes(), &acc); err != nil || len(acc.EventIDs) != 2 {
		t.Fatalf("body %s", w.Body)
	}
	if len(b.published) != 2 || len(a.objects) != 1 {
		t.Fatalf("published %d events, archived %d objects", len(b.published), len(a.objects))
	}
	ev := b.published[0].Detail.(events.Interaction)
	if b.published[0].Source != events.SourceIngest || b.published[0].DetailType != "survey.responded" ||
		ev.ID != acc.EventIDs[0] || ev.Channel != "app" || ev.DeliveryID != "msg_42" || !ev.ReceivedAt.Equal(now) ||
		ev.Raw != "firehose://test-raw-app/2026/11/23/08/"+RecordID("app", "msg_42") {
		t.Fatalf("event %+v", ev)
	}
	for _, raw := range a.objects {
		if bytes.Contains(raw, []byte("should-not-be-archived")) {
			t.Fatal("archived request kept the Authorization header")
		}
		if !bytes.Contains(raw, []byte("webhook-Signature")) && !bytes.Contains(raw, []byte("Webhook-Signature")) {
			t.Fatalf("archived request lost its signature header: %s", raw)
		}
	}

	// Redelivered three times: 200 with the same ids, nothing new.
	for range 3 {
		w := serve(s, signed("POST", "/v1/webhooks/app", "msg_42", now, body))
		var dup Accepted
		_ = json.Unmarshal(w.Body.Bytes(), &dup)
		if w.Code != 200 || !dup.Duplicate || dup.EventIDs[1] != acc.EventIDs[1] {
			t.Fatalf("redelivery: %d %s", w.Code, w.Body)
		}
	}
	if len(b.published) != 2 {
		t.Fatalf("redeliveries published %d more events", len(b.published)-2)
	}
}

func TestRetryAfterFailureSucceeds(t *testing.T) {
	f := newFixture()
	s, b := f.svc, f.b
	b.fail = true
	if w := serve(s, signed("POST", "/v1/webhooks/app", "m7", now, npsBody)); w.Code != 503 {
		t.Fatalf("status %d", w.Code)
	}
	b.fail = false
	if w := serve(s, signed("POST", "/v1/webhooks/app", "m7", now, npsBody)); w.Code != 202 || len(b.published) != 1 {
		t.Fatalf("retry: status %d, %d published", w.Code, len(b.published))
	}
}

// A redelivery's raw record answers to the same record id, so whichever
// copy an event names, the record read back is the delivery's.
func TestRedeliveryKeepsItsRecordID(t *testing.T) {
	f := newFixture()
	f.b.fail = true
	if w := serve(f.svc, signed("POST", "/v1/webhooks/app", "m8", now, npsBody)); w.Code != 503 || len(f.a.objects) != 1 {
		t.Fatalf("status %d, %d records", w.Code, len(f.a.objects))
	}
	f.b.fail = false
	if w := serve(f.svc, signed("POST", "/v1/webhooks/app", "m8", now, npsBody)); w.Code != 202 || len(f.a.objects) != 1 {
		t.Fatalf("retry: status %d, %d records", w.Code, len(f.a.objects))
	}
	ev := f.b.published[0].Detail.(events.Interaction)
	if want := "firehose://test-raw-app/2026/11/23/08/" + RecordID("app", "m8"); ev.Raw != want {
		t.Fatalf("raw %q, want %q", ev.Raw, want)
	}
	if RecordID("app", "m8") == RecordID("other", "m8") || RecordID("app", "m8") == RecordID("app", "m9") {
		t.Fatal("record ids collide across channels or deliveries")
	}
}

func TestEventIDIsStable(t *testing.T) {
	if EventID("app", "m1#0") != EventID("app", "m1#0") || EventID("app", "m1#0") == EventID("app", "m1#1") || EventID("app", "m1#0") == EventID("shop", "m1#0") {
		t.Fatal("event ids are not a function of (channel, key)")
	}
}

func BenchmarkIngest(b *testing.B) {
	f := newFixture()
	s, bb := f.svc, f.b
	mux := http.NewServeMux()
	mux.Handle("/v1/webhooks/{channel}", s)
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		reqs[i] = signed("POST", "/v1/webhooks/app", "m"+strconv.Itoa(i), now, npsBody)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, reqs[i])
		if w.Code != 202 {
			b.Fatal(w.Code)
		}
	}
	b.StopTimer()
	bb.published = nil
}

// overlapBus runs a second attempt of the delivery while the first one is
// publishing, as a provider retrying a slow answer does.
type overlapBus struct {
	*memBus
	during func()
}

func (b *overlapBus) Publish(ctx context.Context, evs ...events.Event) error {
	if d := b.during; d != nil {
		b.during = nil
		d()
	}
	return b.memBus.Publish(ctx, evs...)
}

// Without a claim before the work, two overlapping attempts of a delivery
// both publish its events, under the same ids (which every consumer
// dedupes), and the next redelivery is answered from the ledger.
func TestOverlappingAttemptsPublishTheSameIDs(t *testing.T) {
	f := newFixture()
	attempt := func() *httptest.ResponseRecorder {
		return serve(f.svc, signed("POST", "/v1/webhooks/app", "msg_overlap", now, npsBody))
	}
	var second *httptest.ResponseRecorder
	f.svc.Bus = &overlapBus{memBus: f.b, during: func() { second = attempt() }}
	first := attempt()
	if first.Code != 202 || second == nil || second.Code != 202 {
		t.Fatalf("overlapping attempts answered %d and %v, want 202 both", first.Code, second)
	}
	if len(f.b.published) != 2 || f.b.published[0].Detail.(events.Interaction).ID != f.b.published[1].Detail.(events.Interaction).ID {
		t.Fatalf("published %d events, want the same event twice", len(f.b.published))
	}
	third := attempt()
	if third.Code != 200 || !strings.Contains(third.Body.String(), `"duplicate":true`) || len(f.b.published) != 2 {
		t.Fatalf("redelivery after both: %d %s, %d published", third.Code, third.Body, len(f.b.published))
	}
}
