package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ocxhq/ocx/internal/topology"
)

// addTables creates one on-demand table per topology.Table.
func (b *builder) addTables() {
	for _, t := range topology.Tables {
		b.tables[t.Name] = b.newTable(t)
	}
}

func (b *builder) newTable(t topology.Table) awsdynamodb.TableV2 {
	var gsis []*awsdynamodb.GlobalSecondaryIndexPropsV2
	for _, ix := range t.Indexes {
		gsis = append(gsis, &awsdynamodb.GlobalSecondaryIndexPropsV2{
			IndexName:      jsii.String(ix.Name),
			PartitionKey:   stringKey(ix.PartitionKey),
			SortKey:        stringKey(ix.SortKey),
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		})
	}
	props := &awsdynamodb.TablePropsV2{
		PartitionKey: stringKey(topology.PK),
		SortKey:      stringKey(topology.SK),
		Billing:      awsdynamodb.Billing_OnDemand(nil),
		Encryption:   awsdynamodb.TableEncryptionV2_AwsManagedKey(),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(b.settings.deletionProtection),
		RemovalPolicy:      b.settings.removal,
		Tags:               &[]*awscdk.CfnTag{{Key: jsii.String("ocx:table"), Value: jsii.String(t.Name)}},
	}
	if len(gsis) > 0 {
		props.GlobalSecondaryIndexes = &gsis
	}
	if t.TTL != "" {
		props.TimeToLiveAttribute = jsii.String(t.TTL)
	}
	return awsdynamodb.NewTableV2(b.stack, jsii.String(pascal(t.Name)+"Table"), props)
}

func stringKey(name string) *awsdynamodb.Attribute {
	if name == "" {
		return nil
	}
	return &awsdynamodb.Attribute{Name: jsii.String(name), Type: awsdynamodb.AttributeType_STRING}
}

// addArchiveBucket creates the bucket that keeps every raw webhook payload,
// so nothing received is ever lost, plus the bucket its access logs go to.
func (b *builder) addArchiveBucket() awss3.Bucket {
	logs := awss3.NewBucket(b.stack, jsii.String("AccessLogsBucket"), &awss3.BucketProps{
		// Server access log delivery supports SSE-S3 only.
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     b.settings.removal,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-access-logs"),
			Expiration: awscdk.Duration_Days(jsii.Number(b.settings.accessLogDays)),
		}},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(logs, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("this bucket is the server access log destination; logging it to itself would loop"),
	}}, jsii.Bool(true))

	return awss3.NewBucket(b.stack, jsii.String("ArchiveBucket"), &awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:          b.settings.removal,
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("archive/"),
		LifecycleRules:         &[]*awss3.LifecycleRule{b.archiveLifecycle()},
	})
}

// archiveLifecycle tiers and expires raw payloads. S3 keeps objects under
// 128 KiB in Standard whatever the transitions say (the default minimum
// transition size), which is the cheaper place for small webhook bodies; the
// transitions pay off for large ones.
func (b *builder) archiveLifecycle() *awss3.LifecycleRule {
	rule := &awss3.LifecycleRule{
		Id:                                  jsii.String("tier-and-expire-raw-payloads"),
		Expiration:                          awscdk.Duration_Days(jsii.Number(b.settings.archiveExpiryDays)),
		AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7)),
	}
	if b.settings.archiveTiering {
		rule.Transitions = &[]*awss3.Transition{
			{StorageClass: awss3.StorageClass_INFREQUENT_ACCESS(), TransitionAfter: awscdk.Duration_Days(jsii.Number(30))},
			{StorageClass: awss3.StorageClass_GLACIER_INSTANT_RETRIEVAL(), TransitionAfter: awscdk.Duration_Days(jsii.Number(90))},
		}
	}
	return rule
}
