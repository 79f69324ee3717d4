package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ocxhq/ocx/events"
)

// sqsBatch is an SQS event as the event source mapping sends it, from
// queue, with one record per body.
func sqsBatch(t *testing.T, queue string, bodies ...string) []byte {
	t.Helper()
	var ev lambdaevents.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, lambdaevents.SQSMessage{MessageId: fmt.Sprint("m", i), Body: b, EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:eu-west-1:000000000000:ocx-dev-" + queue, AWSRegion: "eu-west-1"})
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func envelope(id, typ string) string {
	return fmt.Sprintf(`{"version":"0","id":%q,"detail-type":%q,"source":"ocx.ingest","account":"000000000000","time":"2026-06-17T14:30:00Z","region":"eu-west-1","resources":[],"detail":{}}`, id, typ)
}

// A consumer's one Lambda handler takes what its bus queue, its wake-up
// queue and its schedule send: a bus batch's failed and unreadable
// messages, and only those, are reported for redelivery.
func TestConsumerTakesEveryShape(t *testing.T) {
	var got []string
	c := Consumer{
		Batch: Each(func(_ context.Context, env events.Envelope) error {
			got = append(got, "event "+env.ID)
			if env.DetailType == "poison" {
				return errors.New("cannot apply")
			}
			return nil
		}),
		Tick: func(_ context.Context, env events.Envelope) error {
			got = append(got, "tick")
			return nil
		},
		Wake: func(_ context.Context, b lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
			got = append(got, "wake "+b.Records[0].Body)
			return lambdaevents.SQSEventResponse{}, nil
		},
	}
	h, err := Consuming(func(context.Context, Deps) (Consumer, error) { return c, nil })(context.Background(), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	invoke := lambda.NewHandler(h)

	out, err := invoke.Invoke(context.Background(), sqsBatch(t, "rules-events",
		envelope("e1", "order.created"), envelope("e2", "poison"), "not json", envelope("e3", "order.created")))
	if err != nil {
		t.Fatal(err)
	}
	var resp lambdaevents.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if slices.Sort(failed); !slices.Equal(failed, []string{"m1", "m2"}) {
		t.Fatalf("reported %v, want the poison (m1) and the unreadable message (m2) only", failed)
	}
	if _, err := invoke.Invoke(context.Background(), sqsBatch(t, "rules-wakeups", `{"key":"k"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := invoke.Invoke(context.Background(), []byte(`{"version":"0","id":"t1","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`)); err != nil {
		t.Fatal(err)
	}
	// Invoked directly (a test invocation, or a rule not yet moved to the
	// queue), an event is a batch of one and its error the invocation's.
	if _, err := invoke.Invoke(context.Background(), []byte(envelope("e4", "poison"))); err == nil {
		t.Fatal("a direct event that fails must fail the invocation")
	}
	want := []string{"event e1", "event e2", "event e3", `wake {"key":"k"}`, "tick", "event e4"}
	if !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
}

// A wake-up batch sent to a consumer without wake-ups is an error, not a
// batch of bus events.
func TestConsumerWithoutWakeupsRefusesThem(t *testing.T) {
	h, _ := Consuming(func(context.Context, Deps) (Consumer, error) {
		return Consumer{Batch: Each(func(context.Context, events.Envelope) error { return nil })}, nil
	})(context.Background(), Deps{})
	if _, err := lambda.NewHandler(h).Invoke(context.Background(), sqsBatch(t, "journey-wakeups", `{}`)); err == nil {
		t.Fatal("want an error")
	}
}
