// Package queue puts JSON messages on an Amazon SQS queue, such as a
// function's dead-letter queue.
package queue

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Queue sends to one queue by URL.
type Queue struct {
	client *sqs.Client
	url    string
}

// New returns a Queue sending to url.
func New(client *sqs.Client, url string) *Queue { return &Queue{client: client, url: url} }

// SendJSON puts v on the queue as JSON.
func (q *Queue) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	if _, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(string(b))}); err != nil {
		return fmt.Errorf("send to queue: %w", err)
	}
	return nil
}
