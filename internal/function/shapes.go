package function

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/apigw"
)

// HTTPHandler is what an HTTP function hands lambda.Start: an API Gateway
// HTTP API (payload 2.0) event in, its response out.
type HTTPHandler = func(context.Context, lambdaevents.APIGatewayV2HTTPRequest) (lambdaevents.APIGatewayV2HTTPResponse, error)

// HTTP serves an http.Handler behind API Gateway.
func HTTP(b func(context.Context, Deps) (http.Handler, error)) Builder {
	return func(ctx context.Context, d Deps) (Handler, error) {
		h, err := b(ctx, d)
		if err != nil {
			return nil, err
		}
		return HTTPHandler(apigw.Handler(h)), nil
	}
}

// EventHandler handles one EventBridge envelope: a bus event routed by a
// rule, or a schedule's tick (events.Envelope.IsTick).
type EventHandler = func(ctx context.Context, env events.Envelope) error

// Events serves EventBridge envelopes.
func Events(b func(context.Context, Deps) (EventHandler, error)) Builder {
	return func(ctx context.Context, d Deps) (Handler, error) {
		h, err := b(ctx, d)
		if err != nil {
			return nil, err
		}
		return h, nil
	}
}

// QueueHandler is what a function consuming an SQS queue through an event
// source mapping with ReportBatchItemFailures gets: a batch in, the ids of
// the messages to deliver again out.
type QueueHandler = func(context.Context, lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error)

// Wakeable is a function invoked by EventBridge (bus events, its sweep
// schedule) and by its wake-up queue's event source mapping.
type Wakeable struct {
	Events EventHandler
	Wake   QueueHandler
}

// WithWakeups hands Lambda one handler for both shapes: an SQS batch
// (Records from aws:sqs) goes to Wake, anything else is an EventBridge
// envelope for Events.
func WithWakeups(b func(context.Context, Deps) (Wakeable, error)) Builder {
	return func(ctx context.Context, d Deps) (Handler, error) {
		w, err := b(ctx, d)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, raw json.RawMessage) (any, error) {
			var probe struct {
				Records []struct {
					EventSource string `json:"eventSource"`
				} `json:"Records"`
			}
			if err := json.Unmarshal(raw, &probe); err == nil && len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs" {
				var batch lambdaevents.SQSEvent
				if err := json.Unmarshal(raw, &batch); err != nil {
					return nil, fmt.Errorf("decode SQS batch: %w", err)
				}
				return w.Wake(ctx, batch)
			}
			var env events.Envelope
			if err := json.Unmarshal(raw, &env); err != nil {
				return nil, fmt.Errorf("decode EventBridge event: %w", err)
			}
			return nil, w.Events(ctx, env)
		}, nil
	}
}
