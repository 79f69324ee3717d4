package stack

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/ocxhq/ocx/internal/topology"
)

// busQueueRetentionDays is how long a bus queue keeps an event: SQS's
// default, far beyond any backlog the age alarm lets pass unnoticed. Its
// dead-letter queue keeps messages longer (14 days), as it must: a
// message's age there still counts from when it reached the bus queue.
const busQueueRetentionDays = 4

// busAgeAlarm is the age of a bus queue's oldest message past which the
// queue alarms: the function is not taking its events (throttled, its
// mapping disabled, failing whole batches). Retries alone do not get
// there: a message that keeps failing comes back after each visibility
// timeout, but SQS stops counting it in ApproximateAgeOfOldestMessage
// after its third receive, so it ages the metric by some two timeouts at
// most; three are beyond it. For journey and rules that is 9 minutes, far
// beyond their healthy second or so; for rollup, whose 10-minute
// visibility makes a failed batch wait anyway, 30 minutes.
func busAgeAlarm(q topology.Queue) time.Duration { return 3 * q.Visibility }

// maxBatchNoWindow is the largest batch an SQS event source may take
// without a batching window.
const maxBatchNoWindow = 10

// checkBusQueue rejects a bus queue that would synthesize a broken or
// unsafe mapping, before the CDK or CloudFormation sees it.
func checkBusQueue(q topology.Queue, timeout time.Duration) error {
	switch {
	case q.Visibility < timeout:
		return fmt.Errorf("visibility timeout %s is shorter than the function's timeout %s", q.Visibility, timeout)
	case q.Visibility%time.Second != 0 || q.Visibility > 12*time.Hour:
		return fmt.Errorf("visibility timeout %s: want whole seconds, 12 hours at most", q.Visibility)
	case q.MaxReceives < 1 || q.MaxReceives > 1000:
		return fmt.Errorf("%d receives: want 1 to 1,000", q.MaxReceives)
	case q.BatchSize < 1 || q.BatchSize > 10000:
		return fmt.Errorf("batch size %d: want 1 to 10,000", q.BatchSize)
	case q.Window < 0 || q.Window%time.Second != 0 || q.Window > 5*time.Minute:
		return fmt.Errorf("batching window %s: want whole seconds, 5 minutes at most", q.Window)
	case q.BatchSize > maxBatchNoWindow && q.Window < time.Second:
		return fmt.Errorf("batch size %d needs a batching window of at least 1 s (SQS event sources take %d without one)", q.BatchSize, maxBatchNoWindow)
	}
	return nil
}

// addBusQueues gives each function with topology's Bus the queue its bus
// rules deliver to (addRouting), and an SQS event source mapping that
// hands the queue to it in batches, reporting failed items so only those
// come back, after the visibility timeout. A message that failed
// topology's MaxReceives times lands in the queue's dead-letter queue,
// which alarms, and which the API lists and redrives like the rules'
// dead-letter queues: its messages are the same EventBridge events.
// It returns the queues by function name.
func (b *builder) addBusQueues() (map[string]awssqs.Queue, error) {
	queues := map[string]awssqs.Queue{}
	for _, fn := range topology.Functions {
		if fn.Bus == nil {
			continue
		}
		bq := *fn.Bus
		f, ok := b.functions[fn.Name]
		if !ok {
			return nil, fmt.Errorf("bus queue of %s: no such function", fn.Name)
		}
		sz, err := sizeOf(fn)
		if err != nil {
			return nil, fmt.Errorf("bus queue of %s: %w", fn.Name, err)
		}
		if err := checkBusQueue(bq, sz.Timeout); err != nil {
			return nil, fmt.Errorf("bus queue of %s: %w", fn.Name, err)
		}
		id := pascal(fn.Name) + "Events"
		// cdk-nag sees this is the bus queue's dead-letter queue (its
		// redrive policy names it), so needs no suppression for it.
		dlq := b.redriveQueue(id + "DeadLetters")
		b.alarms.onQueue(id+"DeadLetters", "bus events the "+fn.Name+" function failed on "+fmt.Sprint(bq.MaxReceives)+
			" times (ocx deadletters shows them, ocx redrive puts them back on the bus)", dlq)
		b.deadLetters = append(b.deadLetters, dlq)
		q := awssqs.NewQueue(b.stack, jsii.String(id), &awssqs.QueueProps{
			// Named as topology names it: a function tells a batch from
			// its bus queue from one of wake-ups by the queue's name.
			QueueName: jsii.String(b.name(topology.BusQueueName(fn.Name))),
			// SSE-SQS, not a KMS key: EventBridge can deliver to a queue
			// encrypted with SQS's own keys, not to one encrypted with
			// the AWS managed KMS key (alias/aws/sqs).
			Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:        jsii.Bool(true),
			VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(bq.Visibility.Seconds())),
			RetentionPeriod:   awscdk.Duration_Days(jsii.Number(busQueueRetentionDays)),
			RemovalPolicy:     b.settings.removal,
			DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(float64(bq.MaxReceives))},
		})
		age := busAgeAlarm(bq)
		b.alarms.add(id+"AgeAlarm", fmt.Sprintf("bus events waited over %.0f minutes for the ", age.Minutes())+fn.Name+
			" function: it is not keeping up with its queue (throttled, its mapping disabled, or failing whole batches)",
			q.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: period()}),
			threshold{above: age.Seconds(), periods: 1, breaching: 1})
		props := &awslambdaeventsources.SqsEventSourceProps{
			BatchSize:               jsii.Number(float64(bq.BatchSize)),
			ReportBatchItemFailures: jsii.Bool(true),
		}
		if bq.Window > 0 {
			props.MaxBatchingWindow = awscdk.Duration_Seconds(jsii.Number(bq.Window.Seconds()))
		}
		if sz.ReservedConcurrency > 0 {
			// Poll no faster than the function may run, so batches are
			// not throttled back into the queue (2 is the least allowed).
			props.MaxConcurrency = jsii.Number(float64(max(sz.ReservedConcurrency, 2)))
		}
		// The mapping's grant (receive, delete, change visibility) is on
		// this queue only.
		f.AddEventSource(awslambdaeventsources.NewSqsEventSource(q, props))
		queues[fn.Name] = q
	}
	return queues, nil
}

// queueTarget delivers a rule's events to a function's bus queue, parking
// events EventBridge could not deliver in a dead-letter queue of the
// rule's own. The target lets events.amazonaws.com send to the queue only
// on behalf of this rule (aws:SourceArn).
func (b *builder) queueTarget(id string, q awssqs.Queue) awsevents.IRuleTarget {
	dlq := b.deadLetterQueue(id+"DeadLetters", "events the "+id+" rule could not deliver")
	return awseventstargets.NewSqsQueue(q, &awseventstargets.SqsQueueProps{
		DeadLetterQueue: dlq,
		RetryAttempts:   jsii.Number(targetRetries),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(targetMaxAgeHours)),
	})
}

// redriveQueue is the dead-letter queue an SQS queue's redrive policy
// names: encrypted, TLS-only, keeping messages 14 days.
func (b *builder) redriveQueue(id string) awssqs.Queue {
	return awssqs.NewQueue(b.stack, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		RemovalPolicy:   b.settings.removal,
	})
}
