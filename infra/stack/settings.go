package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
)

// settings are the values that differ between a developer's stage and
// production: how long things are kept and whether data survives a
// `cdk destroy`.
type settings struct {
	// removal applies to stateful resources: tables, buckets, log groups,
	// secrets and queues.
	removal            awscdk.RemovalPolicy
	deletionProtection bool
	logRetention       awslogs.RetentionDays
	busArchiveDays     float64
	// archiveTiering moves raw payloads to cheaper storage classes before
	// they expire; dev payloads simply expire.
	archiveTiering    bool
	archiveExpiryDays float64
	accessLogDays     float64
	// API throttling for the whole stage, in requests per second.
	apiRate  float64
	apiBurst float64
}

func settingsFor(stage string) settings {
	if stage == StageProd {
		return settings{
			removal:            awscdk.RemovalPolicy_RETAIN,
			deletionProtection: true,
			logRetention:       awslogs.RetentionDays_THREE_MONTHS,
			busArchiveDays:     90,
			archiveTiering:     true,
			archiveExpiryDays:  400,
			accessLogDays:      90,
			apiRate:            500,
			apiBurst:           1000,
		}
	}
	return settings{
		removal:           awscdk.RemovalPolicy_DESTROY,
		logRetention:      awslogs.RetentionDays_TWO_WEEKS,
		busArchiveDays:    7,
		archiveExpiryDays: 30,
		accessLogDays:     14,
		apiRate:           50,
		apiBurst:          100,
	}
}
