package ingest

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
)

// Every outcome of a minute's requests lands in its channel's tally, which
// is published once, when the first request of a later minute arrives.
func TestTallyCountsEachOutcomePerChannelAndMinute(t *testing.T) {
	f := newFixture()
	tallies := &memBus{}
	f.svc.Tally = NewTally(tallies, nil, nil)
	f.svc.Tally.Instance = "env1"
	f.svc.Channels["partial"] = channel.Channel{Config: channel.Config{ID: "partial"}, Kind: partial{known: map[string]bool{"created": true}}}
	at := now.Add(10 * time.Second)
	f.svc.Now = func() time.Time { return at }

	body := `[` + npsBody + `,{"type":"order.created","customer":{"phone":"+15551234567"},"occurred_at":"2026-11-23T07:00:00Z"}]`
	codes := []int{
		serve(f.svc, signed("POST", "/v1/webhooks/app", "msg_1", at, body)).Code,                    // accepted, 2 events
		serve(f.svc, signed("POST", "/v1/webhooks/app", "msg_1", at, body)).Code,                    // duplicate
		serve(f.svc, signed("POST", "/v1/webhooks/app", "msg_2", at.Add(-time.Hour), body)).Code,    // stale timestamp: 401
		serve(f.svc, signed("POST", "/v1/webhooks/app", "msg_3", at, strings.Repeat("[", 40))).Code, // too deep: 400 with a kept copy
		serve(f.svc, signed("GET", "/v1/webhooks/app", "msg_4", at, body)).Code,                     // 405
		serve(f.svc, signed("POST", "/v1/webhooks/nowhere", "msg_5", at, body)).Code,                // unknown channel: not tallied
	}
	req := httptest.NewRequest("POST", "/v1/webhooks/partial", strings.NewReader(`[{"id":"1","kind":"created","email":"a@example.com"},{"id":"2","kind":"odd"}]`))
	req.Header.Set("x-delivery", "p1")
	codes = append(codes, serve(f.svc, req).Code) // accepted, 1 event, 1 quarantined
	f.b.fail = true
	codes = append(codes, serve(f.svc, signed("POST", "/v1/webhooks/app", "msg_7", at, body)).Code) // the bus fails: 503
	f.b.fail = false
	if fmt.Sprint(codes) != "[202 200 401 400 405 404 202 503]" {
		t.Fatalf("answers %v", codes)
	}
	if len(tallies.published) != 0 {
		t.Fatalf("%d tallies published within the minute", len(tallies.published))
	}

	at = now.Add(70 * time.Second)
	serve(f.svc, signed("POST", "/v1/webhooks/app", "msg_6", at, "not json"))
	if len(tallies.published) != 2 {
		t.Fatalf("%d tallies after the minute turned, want app and partial", len(tallies.published))
	}
	app := tallies.published[0].Detail.(events.IntakeTally)
	want := events.IntakeTally{ID: TallyID("app", now, "env1"), Channel: "app", OccurredAt: now, Instance: "env1",
		Accepted: 1, Duplicate: 1, RejectedSignature: 1, RejectedOther: 2, Unavailable: 1, Events: 2, Quarantined: 1, LastAcceptedAt: now.Add(10 * time.Second)}
	if app != want {
		t.Fatalf("app tally\n got %+v\nwant %+v", app, want)
	}
	if e := tallies.published[0]; e.Source != events.SourceIntake || e.DetailType != events.TypeIntakeTallied || !e.Time.Equal(now) {
		t.Fatalf("envelope %+v", e)
	}
	if p := tallies.published[1].Detail.(events.IntakeTally); p.Channel != "partial" || p.Accepted != 1 || p.Events != 1 || p.Quarantined != 1 {
		t.Fatalf("partial tally %+v", p)
	}
	// None of this reached the interactions' bus traffic.
	for _, e := range f.b.published {
		if e.Source != events.SourceIngest {
			t.Fatalf("tally on the interactions' publisher: %+v", e)
		}
	}
	f.svc.Tally.Flush(t.Context())
	if len(tallies.published) != 3 || tallies.published[2].Detail.(events.IntakeTally).RejectedOther != 1 {
		t.Fatalf("flush: %+v", tallies.published[2:])
	}
	f.svc.Tally.Flush(t.Context())
	if len(tallies.published) != 3 {
		t.Fatal("an empty flush published")
	}
}
