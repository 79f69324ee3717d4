package stack

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ocxhq/ocx/internal/topology"
)

// wakeupAgeAlarm is the age of the oldest wake-up past which its queue
// alarms: one 15-minute hop plus five minutes of tries.
const wakeupAgeAlarm = 20 * time.Minute

// addWakeups gives each function with topology's Wakeups its wake-up
// queue: the function sends itself messages with DelaySeconds (15 minutes
// at most; longer waits travel in hops), and an SQS event source mapping
// hands them back as batches, reporting failed items so only those come
// back. A message that keeps failing lands in the queue's dead-letter
// queue, which alarms; the function's slow schedule sweeps up meanwhile.
func (b *builder) addWakeups() error {
	wq := topology.WakeupQueue
	for _, fn := range topology.Functions {
		if !fn.Wakeups {
			continue
		}
		f, ok := b.functions[fn.Name]
		if !ok {
			return fmt.Errorf("wake-ups of %s: no such function", fn.Name)
		}
		sz, err := sizeOf(fn)
		if err != nil {
			return fmt.Errorf("wake-ups of %s: %w", fn.Name, err)
		}
		if wq.Visibility < sz.Timeout {
			return fmt.Errorf("wake-ups of %s: visibility timeout %s is shorter than the function's timeout %s", fn.Name, wq.Visibility, sz.Timeout)
		}
		id := pascal(fn.Name) + "Wakeups"
		dlq := b.redriveQueue(id + "DeadLetters")
		cdknag.NagSuppressions_AddResourceSuppressions(dlq, &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-SQS3"),
			Reason: jsii.String("this queue is itself the dead-letter queue of a function's wake-up queue"),
		}}, jsii.Bool(true))
		b.alarms.onQueue(id+"DeadLetters", "wake-ups the "+fn.Name+" function failed on "+fmt.Sprint(wq.MaxReceives)+
			" times (the schedule's sweep still acts on what they named)", dlq)
		q := awssqs.NewQueue(b.stack, jsii.String(id), &awssqs.QueueProps{
			// Named as topology names it: a function that also takes bus
			// events from a queue (rules) tells a wake-up batch from a
			// bus batch by the queue's name.
			QueueName:         jsii.String(b.name(topology.WakeupQueueName(fn.Name))),
			Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:        jsii.Bool(true),
			VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(wq.Visibility.Seconds())),
			// A wake-up is sent again every 15 minutes until due, so none
			// waits in the queue long; a day is ample.
			RetentionPeriod: awscdk.Duration_Days(jsii.Number(1)),
			RemovalPolicy:   b.settings.removal,
			DeadLetterQueue: &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(float64(wq.MaxReceives))},
		})
		// A healthy queue's oldest message is at most one hop (15
		// minutes) and a few tries old; older means the function is not
		// taking its wake-ups and groups wait for the sweep.
		b.alarms.add(id+"AgeAlarm", "wake-ups of the "+fn.Name+" function waiting over "+fmt.Sprint(wakeupAgeAlarm)+
			": it is not taking them, and only its schedule's sweep acts",
			q.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: period()}),
			threshold{above: wakeupAgeAlarm.Seconds(), periods: 1, breaching: 1})
		q.GrantSendMessages(f)
		f.AddEnvironment(jsii.String(topology.EnvWakeupQueue), q.QueueUrl(), nil)
		props := &awslambdaeventsources.SqsEventSourceProps{
			BatchSize:               jsii.Number(float64(wq.BatchSize)),
			ReportBatchItemFailures: jsii.Bool(true),
		}
		if sz.ReservedConcurrency > 0 {
			// Poll no faster than the function may run, so wake-ups are
			// not throttled back into the queue (2 is the least allowed).
			props.MaxConcurrency = jsii.Number(float64(max(sz.ReservedConcurrency, 2)))
		}
		// The mapping's grant (receive, delete, change visibility) is on
		// this queue only.
		f.AddEventSource(awslambdaeventsources.NewSqsEventSource(q, props))
	}
	return nil
}
