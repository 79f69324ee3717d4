package function

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/wakeup"
)

type scheduled struct{ keys []string }

func (s *scheduled) Schedule(_ context.Context, key string, _ time.Time) error {
	s.keys = append(s.keys, key)
	return nil
}

// One Lambda handler takes both shapes a function with wake-ups is sent:
// SQS batches from its wake-up queue go to Wake and answer with the items
// to retry; EventBridge envelopes (bus events, the sweep) go to Events.
func TestWakeableFunctionTakesBothShapes(t *testing.T) {
	var got []string
	w := Wakeable{
		Events: func(_ context.Context, env events.Envelope) error {
			got = append(got, "event "+env.DetailType)
			return nil
		},
		Wake: func(_ context.Context, b lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
			got = append(got, "batch "+b.Records[0].MessageId)
			return lambdaevents.SQSEventResponse{BatchItemFailures: []lambdaevents.SQSBatchItemFailure{{ItemIdentifier: "m1"}}}, nil
		},
	}
	b := WithWakeups(func(context.Context, Deps) (Wakeable, error) { return w, nil })
	h, err := b(context.Background(), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	invoke := lambda.NewHandler(h)
	out, err := invoke.Invoke(context.Background(), []byte(`{"Records":[{"messageId":"m1","body":"{}","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:eu-west-1:000000000000:ocx-dev-notify-wakeups"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var resp lambdaevents.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m1" {
		t.Fatalf("batch answer %s (%v), want m1 reported for retry", out, err)
	}
	if _, err := invoke.Invoke(context.Background(), []byte(`{"version":"0","id":"e1","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`)); err != nil {
		t.Fatal(err)
	}
	if want := []string{"batch m1", "event Scheduled Event"}; !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
}

// A batch: a due wake-up goes to the consumer, one still ahead is sent on
// for the rest of its wait, a failing one alone is reported for retry,
// and an unreadable one is dropped (retrying cannot help).
func TestWakeBatch(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	body := func(key string, at time.Time) string {
		s, err := wakeup.Encode(wakeup.Wakeup{Key: key, At: at})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var woken []string
	wake := func(_ context.Context, key string) error {
		woken = append(woken, key)
		if key == "broken" {
			return errors.New("store down")
		}
		return nil
	}
	s := &scheduled{}
	h := WakeBatch(s, func() time.Time { return now }, wake, slog.New(slog.NewTextHandler(io.Discard, nil)))
	resp, err := h(context.Background(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		{MessageId: "m1", Body: body("due", now)},
		{MessageId: "m2", Body: body("later", now.Add(time.Hour))},
		{MessageId: "m3", Body: body("broken", now.Add(-time.Second))},
		{MessageId: "m4", Body: "not a wake-up"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(woken, []string{"due", "broken"}) || !slices.Equal(s.keys, []string{"later"}) {
		t.Fatalf("woke %v, sent on %v", woken, s.keys)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m3" {
		t.Fatalf("reported %v, want only m3", resp.BatchItemFailures)
	}
}
