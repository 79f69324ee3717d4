package app

import (
	"context"
	"fmt"
	"net/http"
	"os"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ocxhq/ocx/internal/apigw"
	"github.com/ocxhq/ocx/internal/awsclient"
	"github.com/ocxhq/ocx/internal/topology"
)

// Builder constructs a function's handler.
type Builder[H any] func(ctx context.Context, d Deps) (H, error)

// HTTPHandler is what an HTTP function hands lambda.Start: an API Gateway
// HTTP API (payload 2.0) event in, its response out.
type HTTPHandler = func(context.Context, lambdaevents.APIGatewayV2HTTPRequest) (lambdaevents.APIGatewayV2HTTPResponse, error)

// Handler is a function's Lambda handler, exactly what its main.go passes
// to lambda.Start: an HTTPHandler, an EventHandler, or for a function with
// wake-ups one that takes EventBridge events and SQS batches alike. The local stack
// invokes the same value through lambda.NewHandler with JSON payloads
// shaped as AWS sends them.
type Handler any

// Functions builds each function's Lambda handler by name.
var Functions = map[string]Builder[Handler]{
	topology.Ingest:   httpFunction(Ingest),
	topology.API:      httpFunction(API),
	topology.Journey:  eventFunction(Journey),
	topology.Rules:    wakeableFunction(Rules),
	topology.Notify:   wakeableFunction(Notify),
	topology.Rollup:   eventFunction(RollupEvents),
	topology.Outbound: wakeableFunction(Outbound),
}

func httpFunction(b Builder[http.Handler]) Builder[Handler] {
	return func(ctx context.Context, d Deps) (Handler, error) {
		h, err := b(ctx, d)
		if err != nil {
			return nil, err
		}
		return HTTPHandler(apigw.Handler(h)), nil
	}
}

func eventFunction(b Builder[EventHandler]) Builder[Handler] {
	return func(ctx context.Context, d Deps) (Handler, error) {
		h, err := b(ctx, d)
		if err != nil {
			return nil, err
		}
		return h, nil
	}
}

// Run builds the named function from the process environment and hands it
// to the Lambda runtime. A cold start that cannot work exits with a logged
// reason (an init error) rather than serving errors.
func Run(name string) {
	ctx := context.Background()
	log := Logger(name)
	b, ok := Functions[name]
	if !ok {
		log.Error("cannot start", "err", fmt.Errorf("no function %q", name))
		os.Exit(1)
	}
	cfg, err := awsclient.Load(ctx, "")
	if err == nil {
		var h Handler
		if h, err = b(ctx, Env(cfg, log)); err == nil {
			lambda.Start(h)
			return
		}
	}
	log.Error("cannot start", "err", err)
	os.Exit(1)
}
