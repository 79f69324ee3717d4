package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesisfirehose"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ocxhq/ocx/internal/topology"
)

// maxStreamName is Firehose's limit on a delivery stream's name.
const maxStreamName = 64

// rawFreshnessSeconds is how old the oldest record in a raw stream may be
// before it alarms: three buffer intervals, so a record waiting for its
// object is normal and one the stream cannot deliver is not. Firehose keeps
// retrying S3 for 24 hours, so the alarm comes long before anything is lost.
const rawFreshnessSeconds = 3 * topology.RawBufferSeconds

// addRawStreams creates one Amazon Data Firehose delivery stream per
// channel, which ingest puts each raw webhook to (one PutRecord, durable on
// success) and which writes them in bulk, GZIP-compressed, to the archive
// bucket under raw/<channel>/ and Firehose's default UTC YYYY/MM/DD/HH/.
// One stream per channel, rather than dynamic partitioning of one, gives
// the same layout in AWS as in the local stack's emulator, which evaluates
// no partitioning expressions; it also keeps each stream's role to its
// channel's prefix.
func (b *builder) addRawStreams(archive awss3.Bucket, channels []string) error {
	logs := awslogs.NewLogGroup(b.stack, jsii.String("RawStreamLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/kinesisfirehose/" + b.name("raw")),
		Retention:     b.settings.logRetention,
		RemovalPolicy: b.settings.removal,
	})
	for _, ch := range channels {
		name := topology.RawStreamName(b.props.Stage, ch)
		if len(name) > maxStreamName {
			return fmt.Errorf("channel %s: delivery stream name %q is over Firehose's %d characters; shorten the channel id", ch, name, maxStreamName)
		}
		id := "Raw" + pascal(ch)
		logStream := awslogs.NewLogStream(b.stack, jsii.String(id+"DeliveryLog"), &awslogs.LogStreamProps{
			LogGroup:      logs,
			LogStreamName: jsii.String("S3Delivery-" + ch),
			RemovalPolicy: b.settings.removal,
		})
		role := awsiam.NewRole(b.stack, jsii.String(id+"StreamRole"), &awsiam.RoleProps{
			// The external id keeps other accounts' streams from using
			// the role (confused deputy).
			AssumedBy: awsiam.NewServicePrincipal(jsii.String("firehose.amazonaws.com"), &awsiam.ServicePrincipalOpts{
				Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"sts:ExternalId": b.stack.Account()}},
			}),
			Description: jsii.String("OCX raw webhook stream of channel " + ch + " (" + b.props.Stage + ")"),
		})
		// What Firehose needs to deliver to S3, on this channel's
		// prefixes only.
		role.AddToPolicy(allow([]string{"s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"},
			archive.ArnForObjects(jsii.String(topology.RawObjectPrefix(ch)+"*")),
			archive.ArnForObjects(jsii.String("raw-errors/"+ch+"/*"))))
		role.AddToPolicy(allow([]string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"}, archive.BucketArn()))
		role.AddToPolicy(allow([]string{"logs:PutLogEvents"}, b.stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("logs"),
			Resource:     jsii.String("log-group"),
			ResourceName: jsii.String(*logs.LogGroupName() + ":log-stream:" + *logStream.LogStreamName()),
			ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})))
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{
			suppressRegex("AwsSolutions-IAM5",
				"Firehose names its objects at delivery time, under this channel's raw and raw-errors prefixes only",
				`/^Resource::<ArchiveBucket[A-Za-z0-9]*\.Arn>\/raw(-errors)?\/`+regexpQuote(ch)+`\/\*$/g`),
		}, jsii.Bool(true))

		stream := awskinesisfirehose.NewCfnDeliveryStream(b.stack, jsii.String(id+"Stream"), &awskinesisfirehose.CfnDeliveryStreamProps{
			DeliveryStreamName: jsii.String(name),
			DeliveryStreamType: jsii.String("DirectPut"),
			// Records wait in the stream's buffer for up to the buffer
			// interval: encrypted there with a key AWS owns (S3 encrypts
			// the objects with the bucket's own key).
			DeliveryStreamEncryptionConfigurationInput: &awskinesisfirehose.CfnDeliveryStream_DeliveryStreamEncryptionConfigurationInputProperty{
				KeyType: jsii.String("AWS_OWNED_CMK"),
			},
			ExtendedS3DestinationConfiguration: &awskinesisfirehose.CfnDeliveryStream_ExtendedS3DestinationConfigurationProperty{
				BucketArn: archive.BucketArn(),
				RoleArn:   role.RoleArn(),
				// No expressions: Firehose appends its default UTC
				// YYYY/MM/DD/HH/, which readers list by (internal/archive).
				Prefix:            jsii.String(topology.RawObjectPrefix(ch)),
				ErrorOutputPrefix: jsii.String(topology.RawErrorPrefix(ch)),
				CompressionFormat: jsii.String("GZIP"),
				BufferingHints: &awskinesisfirehose.CfnDeliveryStream_BufferingHintsProperty{
					SizeInMBs:         jsii.Number(topology.RawBufferMB),
					IntervalInSeconds: jsii.Number(topology.RawBufferSeconds),
				},
				CloudWatchLoggingOptions: &awskinesisfirehose.CfnDeliveryStream_CloudWatchLoggingOptionsProperty{
					Enabled:       jsii.Bool(true),
					LogGroupName:  logs.LogGroupName(),
					LogStreamName: logStream.LogStreamName(),
				},
			},
		})
		// Firehose checks its role's permissions when the stream is
		// created: the role's policy must exist first.
		stream.Node().AddDependency(role)
		b.rawStreams[ch] = stream

		b.alarms.add(id+"FreshnessAlarm", fmt.Sprintf("raw webhooks of channel %s have waited over %d minutes to reach S3 "+
			"(they are kept in the stream for 24 hours; see log group %s)", ch, rawFreshnessSeconds/60, *logs.LogGroupName()),
			awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace:     jsii.String("AWS/Firehose"),
				MetricName:    jsii.String("DeliveryToS3.DataFreshness"),
				DimensionsMap: &map[string]*string{"DeliveryStreamName": jsii.String(name)},
				Statistic:     jsii.String("Maximum"),
				Period:        period(),
			}), threshold{above: rawFreshnessSeconds, periods: 1, breaching: 1})
	}
	return nil
}

// rawStreamArns are the ARNs of the channels' raw streams.
func (b *builder) rawStreamArns() []*string {
	var arns []*string
	for _, ch := range b.channels {
		arns = append(arns, b.rawStreams[ch].AttrArn())
	}
	return arns
}

// receivesWebhooks reports whether the function serves the webhook route,
// and so puts raw records to the streams.
func receivesWebhooks(name string) bool {
	path, ok := webhookPath()
	for _, r := range topology.Routes {
		if ok && r.Target == name && r.Path == path {
			return true
		}
	}
	return false
}
