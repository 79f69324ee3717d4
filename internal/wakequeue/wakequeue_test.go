package wakequeue

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/wakeup"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// A wake-up is held by SQS until it is due (the emulator counts it as
// delayed and does not hand it out), and one already due is handed out at
// once with its key and instant.
func TestScheduleDelaysTheMessage(t *testing.T) {
	ctx := context.Background()
	client := sqs.NewFromConfig(mototest.Config(t))
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprint("wake-", time.Now().UnixNano()))})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(out.QueueUrl)
	// SQS counts delays on the wall clock, so these instants are taken
	// from it, a minute apart so no machine is slow enough to matter.
	now := time.Now()
	q := New(client, url, func() time.Time { return now })
	if err := q.Schedule(ctx, "later", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	due := now.Add(-time.Second)
	if err := q.Schedule(ctx, "due", due); err != nil {
		t.Fatal(err)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)]); n != 1 {
		t.Fatalf("delayed messages: %d, want the one due in a minute", n)
	}
	got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: out.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 1 {
		t.Fatalf("visible messages: %d, want only the one already due", len(got.Messages))
	}
	w, err := wakeup.Decode(aws.ToString(got.Messages[0].Body))
	if err != nil || w.Key != "due" || !w.At.Equal(due) {
		t.Fatalf("wake-up %+v, %v", w, err)
	}
	if err := New(client, "http://127.0.0.1:1/none", nil).Schedule(ctx, "g1", due); err == nil {
		t.Fatal("scheduling on a queue that does not exist succeeded")
	}
}
