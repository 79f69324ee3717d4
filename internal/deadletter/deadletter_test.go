package deadletter

import (
	"context"
	"errors"
	"testing"

	"github.com/ocxhq/ocx/events"
)

type memQueues struct {
	letters []Letter
	deleted []string
}

func (m *memQueues) Peek(context.Context, int) ([]Queue, error) {
	return []Queue{{Name: "q", Approximate: len(m.letters), Letters: m.letters}}, nil
}

func (m *memQueues) Take(_ context.Context, name string, max int) ([]Letter, error) {
	if name != "" && name != "q" {
		return nil, ErrNoQueue
	}
	return m.letters[:min(max, len(m.letters))], nil
}

func (m *memQueues) Delete(_ context.Context, l Letter) error {
	m.deleted = append(m.deleted, l.ID)
	return nil
}

type failingBus struct{ n int }

func (b *failingBus) Publish(context.Context, ...events.Event) error {
	b.n++
	if b.n > 1 {
		return errors.New("ThrottlingException")
	}
	return nil
}

func TestDescribeTellsWhatALetterIs(t *testing.T) {
	cases := map[string]string{
		`{"id":"1","detail-type":"order.created","source":"ocx.ingest","detail":{"id":"evt_1"}}`:                               KindEvent,
		`{"requestPayload":{"detail-type":"failure.detected","source":"ocx.rules","detail":{"id":"flr_1"}}}`:                   KindEvent,
		`{"id":"2","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`:                                         KindSchedule,
		`{"group_key":"g","receiver":"cx/slack","phase":"firing#1","error":"500"}`:                                             KindNotification,
		`{"outbound_delivery_id":"msg_1","endpoint":"crm","event_id":"e1","event_type":"failure.detected","error":"HTTP 500"}`: KindWebhook,
		`not json at all`:  KindUnknown,
		`{"some":"thing"}`: KindUnknown,
	}
	for body, want := range cases {
		l := Letter{Body: []byte(body)}
		ev := describe(&l)
		if l.Kind != want || (ev != nil) != (want == KindEvent) {
			t.Errorf("%s: kind %s (event %v), want %s", body, l.Kind, ev != nil, want)
		}
	}
}

// A redrive publishes events, deletes only what it published, leaves the
// rest, and stops at the first publish that fails so nothing is lost.
func TestRedriveDeletesOnlyWhatWentBackOnTheBus(t *testing.T) {
	q := &memQueues{letters: []Letter{
		{ID: "a", Queue: "q", Body: []byte(`{"detail-type":"order.created","source":"ocx.ingest","detail":{"id":"evt_1"}}`)},
		{ID: "b", Queue: "q", Body: []byte(`{"group_key":"g","receiver":"cx/slack","phase":"firing#1"}`)},
		{ID: "c", Queue: "q", Body: []byte(`{"detail-type":"order.created","source":"ocx.ingest","detail":{"id":"evt_2"}}`)},
	}}
	res, err := Redrive(context.Background(), q, &failingBus{}, "")
	if err == nil || res.Redriven != 1 || len(res.Left) != 1 || len(q.deleted) != 1 || q.deleted[0] != "a" {
		t.Fatalf("redrive: %+v, %v, deleted %v", res, err, q.deleted)
	}
	if _, err := Redrive(context.Background(), q, &failingBus{}, "other"); !errors.Is(err, ErrNoQueue) {
		t.Fatalf("unknown queue: %v", err)
	}
}
