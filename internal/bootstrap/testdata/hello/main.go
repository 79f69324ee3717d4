// Command hello is the floor the functions' bootstraps are measured
// against: an aws-lambda-go function that does nothing, built the same way.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, map[string]any) (string, error) { return "hello", nil })
}
