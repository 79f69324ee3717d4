// Package awsclient builds the aws-sdk-go-v2 configuration shared by every
// adapter: the default chain in AWS, or a fixed endpoint and dummy
// credentials for the local emulator.
package awsclient

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Local is the region used against the emulator.
const Local = "us-east-1"

// Load returns the SDK configuration. A non-empty endpoint points every
// client at the emulator.
func Load(ctx context.Context, endpoint string) (aws.Config, error) {
	if endpoint == "" {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
		}
		return cfg, nil
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(Local),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(endpoint),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load emulator configuration: %w", err)
	}
	return cfg, nil
}
