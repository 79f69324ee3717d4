package deadletters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/deadletter"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/notify"
)

type recordingBus struct {
	mu  sync.Mutex
	evs []events.Event
}

func (b *recordingBus) Publish(_ context.Context, evs ...events.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.evs = append(b.evs, evs...)
	return nil
}

// Whatever lands on a dead-letter queue is listed with what it is, and the
// bus events among it go back on the bus with one redrive; notifications
// stay for an operator.
func TestDeadLettersListedAndRedriven(t *testing.T) {
	ctx := context.Background()
	client := sqs.NewFromConfig(mototest.Config(t))
	stamp := time.Now().UnixNano()
	mk := func(n string) string {
		out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("%s-%d", n, stamp))})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.QueueUrl)
	}
	journeyDLQ, notifyDLQ := mk("journey-dlq"), mk("notify-dlq")
	put := func(url, body string) {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	// As EventBridge's target DLQ holds it, and as a Lambda on-failure record.
	put(journeyDLQ, `{"version":"0","id":"e1","detail-type":"order.created","source":"ocx.ingest","time":"2026-11-23T08:00:00Z","resources":[],"detail":{"id":"evt_1","type":"order.created"}}`)
	put(journeyDLQ, `{"version":"1.0","requestContext":{"condition":"RetriesExhausted"},"requestPayload":{"id":"e2","detail-type":"survey.responded","source":"ocx.ingest","time":"2026-11-23T08:00:00Z","detail":{"id":"evt_2"}},"responsePayload":{"errorMessage":"interaction evt_2 has no usable identity key"}}`)
	d, _ := json.Marshal(notify.DeadLetter{GroupKey: "g", Receiver: "cx/slack", Phase: "firing#1", Failures: []string{"flr_1"}, Error: "slack 500"})
	put(notifyDLQ, string(d))

	q := NewDeadLetters(client, []string{journeyDLQ, fmt.Sprintf("notify-dlq-%d", stamp)})
	pub := &recordingBus{}
	mux := newDeadLetterMux(q, pub)
	var page deadletter.Page
	if code := call(t, mux, "GET", "/v1/deadletters", &page); code != 200 || page.Total != 3 || len(page.Queues) != 2 {
		t.Fatalf("list: %d %+v", code, page)
	}
	kinds := map[string]string{}
	for _, qq := range page.Queues {
		for _, l := range qq.Letters {
			kinds[l.EventID+l.DetailType] = l.Kind + "|" + l.Error
		}
	}
	if kinds["evt_1order.created"] != "event|" || kinds["evt_2survey.responded"] != "event|interaction evt_2 has no usable identity key" ||
		kinds["notification firing#1 to cx/slack"] != "notification|slack 500" {
		t.Fatalf("letters %v", kinds)
	}
	// Listing takes nothing away.
	if code := call(t, mux, "GET", "/v1/deadletters", &page); code != 200 || page.Total != 3 {
		t.Fatalf("second list: %d %+v", code, page)
	}

	var res deadletter.Result
	if code := call(t, mux, "POST", "/v1/deadletters/redrive", &res); code != 200 || res.Redriven != 2 || len(res.Left) != 1 || res.Left[0].Kind != deadletter.KindNotification {
		t.Fatalf("redrive: %d %+v", code, res)
	}
	if len(pub.evs) != 2 || pub.evs[0].Source != "ocx.ingest" || string(pub.evs[1].Detail.(json.RawMessage)) != `{"id":"evt_2"}` {
		t.Fatalf("republished %+v", pub.evs)
	}
	attrs, _ := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(journeyDLQ), AttributeNames: []sqstypesName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	if attrs.Attributes["ApproximateNumberOfMessages"] != "0" || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Fatalf("journey queue after redrive: %v", attrs.Attributes)
	}
	if _, err := deadletter.Redrive(ctx, q, pub, "no-such-queue"); !errors.Is(err, deadletter.ErrNoQueue) {
		t.Fatalf("unknown queue: %v", err)
	}
}

func TestMain(m *testing.M) { mototest.Main(m) }
