package localstack

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/ocxhq/ocx/internal/function"
)

// lambdaFunction is one function of the local stack: the Lambda handler its
// main.go hands lambda.Start, invoked as the Lambda service invokes it —
// a JSON payload decoded by aws-lambda-go's own handler, a request id and
// function ARN in the context, a deadline of the function's timeout, a
// panic turned into a function error.
type lambdaFunction struct {
	name    string
	arn     string
	timeout time.Duration
	handler function.Handler
	// billed accumulates the invocations' durations as Lambda bills them.
	billed billing
}

// billing is a function's invocations and their billed duration: each
// rounded up to the millisecond, as Lambda bills.
type billing struct {
	mu          sync.Mutex
	invocations int
	billed      time.Duration
}

func (b *billing) add(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.invocations++
	b.billed += (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// take returns the invocations and billed duration since the last take.
func (b *billing) take() (int, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, d := b.invocations, b.billed
	b.invocations, b.billed = 0, 0
	return n, d
}

// ErrTimeout is what an invocation that outlives its function's timeout
// returns, as Lambda reports "Task timed out".
type ErrTimeout struct {
	Function string
	After    time.Duration
}

func (e *ErrTimeout) Error() string {
	return fmt.Sprintf("%s: Task timed out after %.2f seconds", e.Function, e.After.Seconds())
}

// invoke runs one invocation. Each gets its own lambda.NewHandler, as each
// Lambda execution environment has its own: the handler's output buffer
// is not safe for concurrent invocations.
func (f *lambdaFunction) invoke(parent context.Context, payload []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, f.timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: newID(), InvokedFunctionArn: f.arn})
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	began := time.Now()
	defer func() { f.billed.add(time.Since(began)) }()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("%s panicked: %v\n%s", f.name, p, debug.Stack())}
			}
		}()
		out, err := lambda.NewHandler(f.handler).Invoke(ctx, payload)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		return r.out, r.err
	case <-ctx.Done():
		if parent.Err() != nil {
			// The caller gave up (the stack is stopping): not a timeout.
			return nil, fmt.Errorf("%s: invocation abandoned: %w", f.name, parent.Err())
		}
		return nil, &ErrTimeout{Function: f.name, After: f.timeout}
	}
}
