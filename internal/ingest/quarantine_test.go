package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/httpauth"
)

// partial maps items of a JSON array whose "kind" it knows and rejects the
// rest, like a provider kind meeting an event type it has no mapping for.
type partial struct {
	known map[string]bool
}

func (partial) Verify(channel.Request, []string, time.Time) error { return nil }

func (p partial) Parse(req channel.Request) (channel.Delivery, error) {
	var items []map[string]string
	if err := json.Unmarshal(req.Body, &items); err != nil {
		return channel.Delivery{}, fmt.Errorf("%w: %v", channel.ErrMalformed, err)
	}
	d := channel.Delivery{ID: req.Header.Get("x-delivery")}
	for i, it := range items {
		raw, _ := json.Marshal(it)
		if !p.known[it["kind"]] {
			d.Rejects = append(d.Rejects, channel.Reject{Index: i, Reason: fmt.Sprintf("unknown event type %q", it["kind"]), Item: raw})
			continue
		}
		d.Events = append(d.Events, channel.Draft{ID: it["id"], Type: "thing." + it["kind"], Customer: eventsCustomer(it["email"])})
	}
	return d, nil
}

func TestQuarantineAndReplay(t *testing.T) {
	f := newFixture()
	kind := partial{known: map[string]bool{"created": true}}
	f.svc.Channels["partial"] = channel.Channel{Config: channel.Config{ID: "partial"}, Kind: kind}
	body := `[{"id":"1","kind":"created","email":" Bob@Example.COM "},{"id":"2","kind":"exploded","email":"bob@example.com"}]`
	req := httptest.NewRequest("POST", "/v1/webhooks/partial", strings.NewReader(body))
	req.Header.Set("x-delivery", "d1")
	w := serve(f.svc, req)
	var acc Accepted
	_ = json.Unmarshal(w.Body.Bytes(), &acc)
	if w.Code != 202 || acc.Quarantined != 1 || len(acc.EventIDs) != 1 {
		t.Fatalf("partial delivery: %d %s, want 202 with one event and one quarantined", w.Code, w.Body)
	}
	if got := f.b.published[0].Detail.(eventsInteraction).Customer.Email; got != "bob@example.com" {
		t.Fatalf("email not normalised: %q", got)
	}
	if len(f.q.rows) != 1 {
		t.Fatalf("%d bad rows, want 1", len(f.q.rows))
	}
	var row BadRow
	for _, r := range f.q.rows {
		row = r
	}
	if row.State != StateQuarantined || len(row.Reasons) != 1 || row.Reasons[0].Index != 1 ||
		!strings.Contains(row.Reasons[0].Reason, `"exploded"`) || !strings.Contains(row.Reasons[0].Item, "exploded") || len(f.a.objects) != 1 {
		t.Fatalf("bad row %+v", row)
	}

	rp := &Replayer{Channels: f.svc.Channels, Archive: archiveReader{f.a}, Quarantine: f.q, Bus: f.b, Now: f.svc.Now}
	// Replaying before the mapping is fixed publishes nothing new and keeps the row.
	res, err := rp.Replay(t.Context(), row.ID)
	if err != nil || len(res.Published) != 0 || res.Row.State != StateQuarantined || res.Row.Replays != 1 {
		t.Fatalf("replay before fix: %+v %v", res, err)
	}
	// The mapping is fixed: replay publishes only the formerly rejected item.
	kind.known["exploded"] = true
	res, err = rp.Replay(t.Context(), row.ID)
	if err != nil || len(res.Published) != 1 || res.Row.State != StateReplayed || len(f.b.published) != 2 {
		t.Fatalf("replay after fix: %+v %v (bus has %d events)", res, err, len(f.b.published))
	}
	if f.b.published[1].DetailType != "thing.exploded" || f.b.published[1].Detail.(eventsInteraction).ID != EventID("partial", "item:2") {
		t.Fatalf("replayed event %+v", f.b.published[1])
	}
	// Replaying again is a no-op.
	if res, _ := rp.Replay(t.Context(), row.ID); len(res.Published) != 0 || len(f.b.published) != 2 {
		t.Fatal("second replay published again")
	}
	if _, err := rp.Replay(t.Context(), "bad_nope"); err == nil {
		t.Fatal("replay of an unknown row succeeded")
	}

	// The operator routes list and replay, behind the guard.
	mux := newMux(f, rp)
	if w := do(mux, "GET", "/v1/badrows", ""); w.Code != 401 {
		t.Fatalf("unauthenticated list: %d", w.Code)
	}
	w = do(mux, "GET", "/v1/badrows?channel=partial", "tok")
	var page BadRowsPage
	_ = json.Unmarshal(w.Body.Bytes(), &page)
	if w.Code != 200 || len(page.BadRows) != 1 {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	if w := do(mux, "GET", "/v1/badrows?limit=0", "tok"); w.Code != 400 {
		t.Fatalf("bad limit: %d", w.Code)
	}
	if w := do(mux, "POST", "/v1/badrows/bad_nope/replay", "tok"); w.Code != 404 {
		t.Fatalf("replay unknown: %d", w.Code)
	}
	if w := do(mux, "POST", "/v1/badrows/"+row.ID+"/replay", "tok"); w.Code != 200 {
		t.Fatalf("replay: %d %s", w.Code, w.Body)
	}
}

func TestPublicURL(t *testing.T) {
	s := &Service{}
	r := httptest.NewRequest("POST", "http://10.0.0.1/v1/webhooks/twilio?x=1", nil)
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "hooks.example.com")
	if got := s.publicURL(r); got != "https://hooks.example.com/v1/webhooks/twilio?x=1" {
		t.Fatalf("forwarded URL %q", got)
	}
	s.PublicBaseURL = "https://ocx.example.com/"
	if got := s.publicURL(r); got != "https://ocx.example.com/v1/webhooks/twilio?x=1" {
		t.Fatalf("configured URL %q", got)
	}
}

type eventsInteraction = events.Interaction

func eventsCustomer(email string) events.Customer { return events.Customer{Email: email} }

type archiveReader struct{ a *memArchive }

func (r archiveReader) Get(_ context.Context, uri string) ([]byte, error) {
	if b, ok := r.a.objects[uri]; ok {
		return b, nil
	}
	b, ok := r.a.objects[strings.TrimPrefix(uri, "s3://raw/")]
	if !ok {
		return nil, fmt.Errorf("no object %s", uri)
	}
	return b, nil
}

func newMux(f fixture, rp *Replayer) *http.ServeMux {
	mux := http.NewServeMux()
	Routes(mux, f.svc, rp, httpauth.Guard{Token: "tok"})
	return mux
}

func do(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
