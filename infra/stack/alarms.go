package stack

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/topology"
)

// alarms raise on the stack's own failures: anything in a dead-letter
// queue, function errors and throttles, rules that could not deliver, API
// 5xx and 4xx spikes, and ingest's failed publishes and quarantined items.
// They all notify one topic, when they fire and when they clear.
type alarms struct {
	b      *builder
	topic  awssns.Topic
	action awscloudwatch.IAlarmAction
}

func (b *builder) newAlarms() *alarms {
	// CloudWatch cannot publish to a topic encrypted with the AWS managed
	// SNS key, so the topic has a key of its own.
	key := awskms.NewKey(b.stack, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description:       jsii.String("encrypts the OCX alarm topic (" + b.props.Stage + ")"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     b.settings.removal,
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudWatchAlarms"),
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
	}), nil)
	topic := awssns.NewTopic(b.stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("OCX alarms (" + b.props.Stage + ")"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	if b.props.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(b.props.AlarmEmail), nil))
	}
	return &alarms{b: b, topic: topic, action: awscloudwatchactions.NewSnsAction(topic)}
}

// Alarm thresholds that are not simply "anything at all".
const (
	// alarmPeriodMinutes is the period of every alarm.
	alarmPeriodMinutes = 5
	// A webhook 4xx spike is more than client4xxPercent of at least
	// client4xxMinRequests requests in each of client4xxPeriods periods:
	// scanners and the odd bad signature stay below it, a channel whose
	// secret no longer matches does not.
	client4xxPercent     = 10
	client4xxMinRequests = 20
	client4xxPeriods     = 2
	// throttledPeriods is how long a function with reserved concurrency
	// may be throttled before it alarms: throttling is its design under a
	// burst, a backlog that lasts is not.
	throttledPeriods = 3
	// asyncAgeAlarmMinutes is how long an event may wait in such a
	// function's async queue (AsyncEventAge, in milliseconds) before it
	// alarms.
	asyncAgeAlarmMinutes = 15
)

// EMF metrics the ingest function writes (internal/ingest) in the
// emf.Namespace namespace, per channel.
const (
	metricPutEventsFailed  = "PutEventsFailed"
	metricQuarantinedItems = "QuarantinedItems"
	metricChannelDimension = "channel"
)

// threshold says when an alarm fires: the value is above `above` in
// `breaching` of the last `periods` periods.
type threshold struct {
	above              float64
	periods, breaching float64
}

// anyAtAll fires on one occurrence in one period.
var anyAtAll = threshold{above: 0, periods: 1, breaching: 1}

func period() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(alarmPeriodMinutes)) }

func sum() *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period()}
}

// onQueue alarms as soon as one message is waiting in a dead-letter queue.
func (a *alarms) onQueue(id, what string, q awssqs.Queue) {
	a.add(id+"Alarm", "messages waiting: "+what,
		q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Statistic: jsii.String("Maximum"),
			Period:    period(),
		}), anyAtAll)
}

// onFunction alarms on any error of a function and on any throttle, or, for
// a function whose concurrency is capped on purpose, on throttling that
// lasts.
func (a *alarms) onFunction(name string, fn awslambda.Function, reserved int) {
	a.add(pascal(name)+"ErrorsAlarm", "the "+name+" function returned errors", fn.MetricErrors(sum()), anyAtAll)
	if reserved > 0 {
		minutes := strconv.Itoa(throttledPeriods * alarmPeriodMinutes)
		a.add(pascal(name)+"ThrottlesAlarm", "the "+name+" function was throttled for "+minutes+
			" minutes: its reserved concurrency of "+strconv.Itoa(reserved)+" is behind a backlog (events wait in its async queue)",
			fn.MetricThrottles(sum()), threshold{above: 0, periods: throttledPeriods, breaching: throttledPeriods})
		// How late the backlog makes events, whether they wait for a
		// throttle or a retry.
		a.add(pascal(name)+"EventAgeAlarm", "events waited more than "+strconv.Itoa(asyncAgeAlarmMinutes)+
			" minutes for the "+name+" function (its async queue is backed up)",
			fn.Metric(jsii.String("AsyncEventAge"), &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: period()}),
			threshold{above: asyncAgeAlarmMinutes * 60 * 1000, periods: 1, breaching: 1})
		return
	}
	a.add(pascal(name)+"ThrottlesAlarm", "the "+name+" function was throttled", fn.MetricThrottles(sum()), anyAtAll)
}

// onAPI alarms on any 5xx the API returned and on a spike of 4xx, which
// mostly means webhooks being rejected (a signature that no longer
// verifies, a channel not configured) or callers hitting the throttle.
func (a *alarms) onAPI(api awsapigatewayv2.HttpApi) {
	a.add("Api5xxAlarm", "the HTTP API answered with 5xx", api.MetricServerError(sum()), anyAtAll)
	rate := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Label: jsii.String("4xx as % of requests"),
		Expression: jsii.String(fmt.Sprintf("IF(requests >= %d, 100 * FILL(rejected, 0) / requests, 0)",
			client4xxMinRequests)),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"requests": api.MetricCount(sum()),
			"rejected": api.MetricClientError(sum()),
		},
		Period: period(),
	})
	a.add("Api4xxAlarm", fmt.Sprintf("the HTTP API answered more than %d%% of requests with 4xx for %d minutes "+
		"(webhooks rejected? see the access log's status and the ingest log)",
		client4xxPercent, client4xxPeriods*alarmPeriodMinutes),
		rate, threshold{above: client4xxPercent, periods: client4xxPeriods, breaching: client4xxPeriods})
}

// onChannels alarms per channel on the ingest function's own metrics:
// deliveries it could not publish to the bus (the provider gets a 5xx and
// redelivers) and items it quarantined as bad rows (waiting for
// `ocx badrows` and a replay).
func (a *alarms) onChannels(channels []string) {
	for _, ch := range channels {
		dims := &map[string]*string{metricChannelDimension: jsii.String(ch)}
		a.add("PutEventsFailed"+pascal(ch)+"Alarm", "ingest could not publish events of channel "+ch+" to the bus",
			awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace: jsii.String(emf.Namespace), MetricName: jsii.String(metricPutEventsFailed),
				DimensionsMap: dims, Statistic: jsii.String("Sum"), Period: period(),
			}), anyAtAll)
		a.add("Quarantined"+pascal(ch)+"Alarm", "ingest quarantined items of channel "+ch+" as bad rows (ocx badrows)",
			awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace: jsii.String(emf.Namespace), MetricName: jsii.String(metricQuarantinedItems),
				DimensionsMap: dims, Statistic: jsii.String("Sum"), Period: period(),
			}), anyAtAll)
	}
}

// undeliverable is, for each function that puts what it gave up on its
// failures queue, the metric it counts that with and what it gave up.
var undeliverable = map[string]struct{ metric, what string }{
	topology.Notify: {notify.MetricUndeliverable, "a notification after every retry " +
		"(it is in the function's failures queue with its group, receiver, phase and error)"},
	topology.Outbound: {outbound.MetricUndeliverable, "an outbound webhook after three days of retries " +
		"(it is in the function's failures queue, and listed failed by GET /v1/outbound/deliveries for replay)"},
}

// onUndeliverable alarms when a function put what it could not deliver
// after every retry on its failures queue.
func (a *alarms) onUndeliverable(name string) {
	u := undeliverable[name]
	a.add(pascal(name)+"UndeliverableAlarm", "the "+name+" function could not deliver "+u.what,
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(emf.Namespace), MetricName: jsii.String(u.metric),
			Statistic: jsii.String("Sum"), Period: period(),
		}), anyAtAll)
}

// onRule alarms when EventBridge gave up delivering to a rule's target (the
// event is in the rule's dead-letter queue) and, worse, when it could not
// even put it there; ifLost tells the operator how to recover such events.
// busName is nil for rules on the default bus, whose metrics carry only the
// rule name.
func (a *alarms) onRule(id, name string, rule awsevents.Rule, busName *string, ifLost string) {
	dims := map[string]*string{"RuleName": rule.RuleName()}
	if busName != nil {
		dims["EventBusName"] = busName
	}
	metric := func(m string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/Events"), MetricName: jsii.String(m),
			DimensionsMap: &dims, Statistic: jsii.String("Sum"), Period: period(),
		})
	}
	a.add(id+"FailedInvocationsAlarm", "EventBridge gave up delivering to the target of rule "+name+
		" after retries (the events are in its dead-letter queue)",
		metric("FailedInvocations"), anyAtAll)
	a.add(id+"DlqFailuresAlarm", "EventBridge could not put undeliverable events of rule "+name+
		" into its dead-letter queue: "+ifLost,
		metric("InvocationsFailedToBeSentToDlq"), anyAtAll)
}

// add alarms on metric, notifying the topic when it fires and when it
// clears; no data means nothing happened.
func (a *alarms) add(id, description string, metric awscloudwatch.IMetric, th threshold) {
	alarm := awscloudwatch.NewAlarm(a.b.stack, jsii.String(id), &awscloudwatch.AlarmProps{
		Metric:             metric,
		AlarmDescription:   jsii.String("OCX " + a.b.props.Stage + ": " + description),
		Threshold:          jsii.Number(th.above),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(th.periods),
		DatapointsToAlarm:  jsii.Number(th.breaching),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(a.action)
	alarm.AddOkAction(a.action)
}
