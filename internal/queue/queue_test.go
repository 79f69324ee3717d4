package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/notify"
)

func TestMain(m *testing.M) { mototest.Main(m) }

func TestSendDeadLetter(t *testing.T) {
	ctx := context.Background()
	client := sqs.NewFromConfig(mototest.Config(t))
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprint("dlq-", time.Now().UnixNano()))})
	if err != nil {
		t.Fatal(err)
	}
	want := notify.DeadLetter{GroupKey: "gA", Receiver: "digital/slack", Phase: "firing#1", Failures: []string{"flr_1"}, Error: "500", At: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	if err := New(client, aws.ToString(out.QueueUrl)).SendJSON(ctx, want); err != nil {
		t.Fatal(err)
	}
	msgs, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil || len(msgs.Messages) != 1 {
		t.Fatalf("receive: %v, %v", msgs, err)
	}
	var got notify.DeadLetter
	if err := json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &got); err != nil || got.Phase != want.Phase || got.Receiver != want.Receiver || !got.At.Equal(want.At) {
		t.Fatalf("got %+v, %v", got, err)
	}
	if err := New(client, "http://127.0.0.1:1/none").SendJSON(ctx, want); err == nil {
		t.Fatal("sending to a queue that does not exist succeeded")
	}
}
