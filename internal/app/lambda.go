package app

import (
	"context"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/ocxhq/ocx/internal/awsclient"
)

// Builder constructs a function's handler.
type Builder[H any] func(ctx context.Context, d Deps) (H, error)

// build loads AWS configuration and builds the handler, exiting with a
// logged reason when the environment is incomplete: a cold start that
// cannot work should fail loudly, not serve errors.
func build[H any](name string, b Builder[H]) H {
	ctx := context.Background()
	log := Logger(name)
	cfg, err := awsclient.Load(ctx, "")
	if err == nil {
		var h H
		if h, err = b(ctx, Env(cfg, log)); err == nil {
			return h
		}
	}
	log.Error("cannot start", "err", err)
	os.Exit(1)
	panic("unreachable")
}

// RunHTTP serves an HTTP handler behind API Gateway (payload format 2.0).
func RunHTTP(name string, b Builder[http.Handler]) {
	lambda.Start(httpadapter.NewV2(build(name, b)).ProxyWithContext)
}

// RunEvents handles EventBridge events.
func RunEvents(name string, b Builder[EventHandler]) {
	lambda.Start(build(name, b))
}

// RunScheduled handles scheduled invocations.
func RunScheduled(name string, b Builder[ScheduledHandler]) {
	lambda.Start(build(name, b))
}
