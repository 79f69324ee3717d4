package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// alarms raise on the stack's own failures: anything in a dead-letter
// queue, any function error or throttle, any API 5xx. They all notify one
// topic.
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

// onQueue alarms as soon as one message is waiting in a dead-letter queue.
func (a *alarms) onQueue(id, what string, q awssqs.Queue) {
	a.add(id+"Alarm", "messages waiting: "+what,
		q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Statistic: jsii.String("Maximum"),
			Period:    awscdk.Duration_Minutes(jsii.Number(5)),
		}))
}

// onFunction alarms on any error or throttle of a function.
func (a *alarms) onFunction(name string, fn awslambda.Function) {
	opts := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}
	a.add(pascal(name)+"ErrorsAlarm", "the "+name+" function returned errors", fn.MetricErrors(opts))
	a.add(pascal(name)+"ThrottlesAlarm", "the "+name+" function was throttled", fn.MetricThrottles(opts))
}

// onAPI alarms on any 5xx the API returned.
func (a *alarms) onAPI(api awsapigatewayv2.HttpApi) {
	a.add("Api5xxAlarm", "the HTTP API answered with 5xx",
		api.MetricServerError(&awscloudwatch.MetricOptions{
			Statistic: jsii.String("Sum"),
			Period:    awscdk.Duration_Minutes(jsii.Number(5)),
		}))
}

// add alarms when metric is above zero for one period; no data means
// nothing happened.
func (a *alarms) add(id, description string, metric awscloudwatch.Metric) {
	alarm := metric.CreateAlarm(a.b.stack, jsii.String(id), &awscloudwatch.CreateAlarmOptions{
		AlarmDescription:   jsii.String("OCX " + a.b.props.Stage + ": " + description),
		Threshold:          jsii.Number(0),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(a.action)
}
