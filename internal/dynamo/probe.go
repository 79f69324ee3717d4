package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Probe returns a readiness check of table: a strongly consistent read of
// a key that never exists, which needs only the read access the function
// already has and answers as fast as the table does.
func Probe(client *dynamodb.Client, table string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: ItemKey("healthz", "healthz"), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("probe table %s: %w", table, err)
		}
		return nil
	}
}
