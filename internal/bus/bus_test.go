package bus

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// Events published through the real client reach a rule's SQS target on the
// emulator's bus, intact.
func TestPublishDeliversThroughEventBridge(t *testing.T) {
	ctx := context.Background()
	cfg := mototest.Config(t)
	eb, sq := eventbridge.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("bus-test")}); err != nil {
		t.Fatal(err)
	}
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bus-test")})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("all"), EventBusName: aws.String("bus-test"), EventPattern: aws.String(`{"source":["test"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("all"), EventBusName: aws.String("bus-test"),
		Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(attrs.Attributes["QueueArn"])}}}); err != nil {
		t.Fatal(err)
	}

	p := New(eb, "bus-test")
	evs := make([]events.Event, 23) // three PutEvents calls
	for i := range evs {
		evs[i] = events.Event{Source: "test", DetailType: "thing.happened", Detail: map[string]int{"i": i}, Time: time.Now()}
	}
	if err := p.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for tries := 0; len(seen) < len(evs) && tries < 20; tries++ {
		out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var env struct {
				DetailType string         `json:"detail-type"`
				Detail     map[string]int `json:"detail"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &env); err != nil {
				t.Fatal(err)
			}
			if env.DetailType != "thing.happened" {
				t.Fatalf("detail-type %q", env.DetailType)
			}
			seen[env.Detail["i"]] = true
			_, _ = sq.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle})
		}
	}
	if len(seen) != len(evs) {
		t.Fatalf("received %d of %d events", len(seen), len(evs))
	}
}

func TestPublishToMissingBusFails(t *testing.T) {
	p := New(eventbridge.NewFromConfig(mototest.Config(t)), "no-such-bus")
	p.backoff = time.Millisecond
	if err := p.Publish(context.Background(), events.Event{Source: "test", DetailType: "x.y", Detail: 1}); err == nil {
		t.Fatal("publishing to a missing bus succeeded")
	}
}

// flaky fails chosen entries a number of times, as EventBridge does under
// throttling, recording what each call sent.
type flaky struct {
	failures map[string]int // detail -> remaining failures
	calls    [][]string
}

func (f *flaky) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	var sent []string
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		d := aws.ToString(e.Detail)
		sent = append(sent, d)
		if f.failures[d] > 0 {
			f.failures[d]--
			out.FailedEntryCount++
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{ErrorCode: aws.String("ThrottlingException"), ErrorMessage: aws.String("rate exceeded")})
			continue
		}
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String("id")})
	}
	f.calls = append(f.calls, sent)
	return out, nil
}

func TestFailedEntriesAreRetriedAlone(t *testing.T) {
	f := &flaky{failures: map[string]int{"2": 2}}
	p := New(f, "b")
	p.backoff = time.Millisecond
	if err := p.Publish(context.Background(), events.Event{Source: "s", DetailType: "a.b", Detail: 1}, events.Event{Source: "s", DetailType: "a.b", Detail: 2}); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 3 || len(f.calls[1]) != 1 || f.calls[1][0] != "2" || len(f.calls[2]) != 1 {
		t.Fatalf("calls = %v, want the failed entry alone resent twice", f.calls)
	}
}

func TestEntriesStillFailingFailThePublish(t *testing.T) {
	f := &flaky{failures: map[string]int{"1": 100}}
	p := New(f, "b")
	p.backoff = time.Millisecond
	err := p.Publish(context.Background(), events.Event{Source: "s", DetailType: "a.b", Detail: 1})
	if err == nil || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Fatalf("Publish = %v, want the entry's error", err)
	}
	if len(f.calls) != p.attempts {
		t.Fatalf("%d calls, want %d attempts", len(f.calls), p.attempts)
	}
}

func TestBatchesRespectLimits(t *testing.T) {
	big := strings.Repeat("x", 100*1024)
	var entries []ebtypes.PutEventsRequestEntry
	for range 5 {
		entries = append(entries, ebtypes.PutEventsRequestEntry{Source: aws.String("s"), DetailType: aws.String("a.b"), Detail: aws.String(big)})
	}
	for range 12 {
		entries = append(entries, ebtypes.PutEventsRequestEntry{Source: aws.String("s"), DetailType: aws.String("a.b"), Detail: aws.String("{}")})
	}
	total := 0
	for _, b := range batches(entries) {
		size := 0
		for _, e := range b {
			size += entrySize(e)
		}
		if len(b) > MaxEntries || size > MaxBatchSize {
			t.Fatalf("batch of %d entries, %d bytes, over the limits", len(b), size)
		}
		total += len(b)
	}
	if total != len(entries) {
		t.Fatalf("batched %d of %d entries", total, len(entries))
	}
	err := New(&flaky{}, "b").Publish(context.Background(), events.Event{Source: "s", DetailType: "a.b", Detail: strings.Repeat("y", MaxBatchSize)})
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("oversized event: %v, want a size error", err)
	}
}

// counting records every entry sent and the most calls in flight at once.
type counting struct {
	mu             sync.Mutex
	sent           int
	inFlight, most int
}

func (c *counting) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	c.mu.Lock()
	c.inFlight++
	c.most = max(c.most, c.inFlight)
	c.mu.Unlock()
	time.Sleep(2 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight--
	c.sent += len(in.Entries)
	out := &eventbridge.PutEventsOutput{}
	for range in.Entries {
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String("id")})
	}
	return out, nil
}

// A thousand events go out in a hundred calls, a few at a time, all of them.
func TestManyBatchesGoOutBoundedlyInParallel(t *testing.T) {
	c := &counting{}
	evs := make([]events.Event, 1000)
	for i := range evs {
		evs[i] = events.Event{Source: "s", DetailType: "a.b", Detail: i}
	}
	if err := New(c, "b").Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	if c.sent != 1000 || c.most > parallelCalls {
		t.Fatalf("sent %d, at most %d calls at once (limit %d)", c.sent, c.most, parallelCalls)
	}
}
