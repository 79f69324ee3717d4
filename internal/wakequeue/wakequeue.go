// Package wakequeue schedules wake-ups (internal/wakeup) on an Amazon SQS
// queue with DelaySeconds: the message becomes visible, and the queue's
// event source mapping hands it to the function, when the wake-up is due.
// SQS holds a message at most 15 minutes; a wake-up further off is sent
// for 15 minutes and sent again by its consumer (wakeup.Deliver) until it
// is due, so one queue serves any wait with no other service.
package wakequeue

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/internal/topology"
	"github.com/ocxhq/ocx/internal/wakeup"
)

// Queue sends wake-ups to one queue by URL.
type Queue struct {
	client *sqs.Client
	url    string
	now    func() time.Time
}

var _ wakeup.Scheduler = (*Queue)(nil)

// New returns a Queue sending to url; now is the clock delays are counted
// from (nil means time.Now).
func New(client *sqs.Client, url string, now func() time.Time) *Queue {
	if now == nil {
		now = time.Now
	}
	return &Queue{client: client, url: url, now: now}
}

// Schedule sends a wake-up for key at at, delayed until then (or for
// wakeup.MaxDelay when at is further off).
func (q *Queue) Schedule(ctx context.Context, key string, at time.Time) error {
	body, err := wakeup.Encode(wakeup.Wakeup{Key: key, At: at.UTC()})
	if err != nil {
		return err
	}
	delay := wakeup.Delay(at, q.now())
	_, err = q.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(q.url), MessageBody: aws.String(body),
		DelaySeconds: int32(delay / time.Second),
	})
	if err != nil {
		return fmt.Errorf("schedule wake-up %s in %s: %w", key, delay, err)
	}
	return nil
}

// FromEnv is the function's wake-up queue, which OCX_WAKEUP_QUEUE names.
func FromEnv(cfg aws.Config, getenv func(string) string, now func() time.Time) (*Queue, error) {
	url := getenv(topology.EnvWakeupQueue)
	if url == "" {
		return nil, fmt.Errorf("missing environment: %s", topology.EnvWakeupQueue)
	}
	return New(sqs.NewFromConfig(cfg), url, now), nil
}
