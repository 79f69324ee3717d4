// Package deadletters lists, takes and deletes letters on the stack's
// dead-letter queues (deadletter.Queues), for the API's dead-letter routes.
package deadletters

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ocxhq/ocx/internal/deadletter"
)

// DeadLetters reads the stack's dead-letter queues (deadletter.Queues).
type DeadLetters struct {
	client *sqs.Client
	// queues are names or URLs, as the environment gives them.
	queues []string
}

var _ deadletter.Queues = (*DeadLetters)(nil)

// NewDeadLetters reads the given queues, each a name or a URL.
func NewDeadLetters(client *sqs.Client, queues []string) *DeadLetters {
	return &DeadLetters{client: client, queues: queues}
}

// takeFor hides taken letters long enough to publish and delete them.
const takeFor = 60 // seconds

func (d *DeadLetters) url(ctx context.Context, q string) (string, error) {
	if strings.HasPrefix(q, "http") {
		return q, nil
	}
	out, err := d.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(q)})
	if err != nil {
		return "", fmt.Errorf("find queue %s: %w", q, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func name(url string) string { return url[strings.LastIndexByte(url, '/')+1:] }

// Peek lists each queue's count and up to limit of its letters. The
// letters stay visible: SQS has no browse, so this receives them with a
// visibility timeout of zero and drops repeats.
func (d *DeadLetters) Peek(ctx context.Context, limit int) ([]deadletter.Queue, error) {
	out := make([]deadletter.Queue, 0, len(d.queues))
	for _, q := range d.queues {
		url, err := d.url(ctx, q)
		if err != nil {
			return nil, err
		}
		attrs, err := d.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", name(url), err)
		}
		n, _ := strconv.Atoi(attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
		letters, err := d.receive(ctx, url, limit, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, deadletter.Queue{Name: name(url), Approximate: n, Letters: letters})
	}
	return out, nil
}

// Take hides up to max letters of the named queue, or of every queue.
func (d *DeadLetters) Take(ctx context.Context, queue string, max int) ([]deadletter.Letter, error) {
	var out []deadletter.Letter
	found := queue == ""
	for _, q := range d.queues {
		url, err := d.url(ctx, q)
		if err != nil {
			return nil, err
		}
		if queue != "" && name(url) != queue {
			continue
		}
		found = true
		ls, err := d.receive(ctx, url, max-len(out), takeFor)
		if err != nil {
			return nil, err
		}
		out = append(out, ls...)
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", deadletter.ErrNoQueue, queue)
	}
	return out, nil
}

// Delete removes a letter.
func (d *DeadLetters) Delete(ctx context.Context, l deadletter.Letter) error {
	for _, q := range d.queues {
		url, err := d.url(ctx, q)
		if err != nil {
			return err
		}
		if name(url) == l.Queue {
			_, err := d.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(l.Handle)})
			if err != nil {
				return fmt.Errorf("delete %s from %s: %w", l.ID, l.Queue, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: %s", deadletter.ErrNoQueue, l.Queue)
}

// receive reads up to limit distinct letters, ten at a time, until the
// queue returns nothing new.
func (d *DeadLetters) receive(ctx context.Context, url string, limit int, hide int32) ([]deadletter.Letter, error) {
	seen := map[string]bool{}
	var out []deadletter.Letter
	for len(out) < limit {
		res, err := d.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: int32(min(10, limit-len(out))), VisibilityTimeout: hide,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{
				sqstypes.MessageSystemAttributeNameSentTimestamp, sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name(url), err)
		}
		if hide == 0 && len(res.Messages) > 0 {
			// A zero VisibilityTimeout is not sent at all (it reads as
			// "the queue's default"), so peeked letters are made visible
			// again explicitly.
			var entries []sqstypes.ChangeMessageVisibilityBatchRequestEntry
			for i, m := range res.Messages {
				entries = append(entries, sqstypes.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
			}
			if _, err := d.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
				return nil, fmt.Errorf("put back letters of %s: %w", name(url), err)
			}
		}
		fresh := 0
		for _, m := range res.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				continue
			}
			seen[id] = true
			fresh++
			l := deadletter.Letter{Queue: name(url), ID: id, Body: []byte(aws.ToString(m.Body)), Handle: aws.ToString(m.ReceiptHandle)}
			if ms, err := strconv.ParseInt(m.Attributes[string(sqstypes.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
				l.SentAt = time.UnixMilli(ms).UTC()
			}
			l.Receives, _ = strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
			// EventBridge's target DLQs and Lambda's dead-letter queues say
			// why in message attributes, each in its own spelling.
			for _, k := range []string{"ERROR_MESSAGE", "ErrorMessage", "ERROR_CODE", "ErrorCode"} {
				if a, ok := m.MessageAttributes[k]; ok && l.Error == "" {
					l.Error = aws.ToString(a.StringValue)
				}
			}
			out = append(out, l)
		}
		if fresh == 0 {
			break
		}
	}
	return out, nil
}
