// Package httpdeadline bounds how long an HTTP handler may take. API
// Gateway gives up on an integration after 30 seconds and answers with a
// bare 503 of its own; a handler wrapped here answers first, with OCX's JSON
// error, a Retry-After, and a context that tells its dependencies to stop.
package httpdeadline

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ocxhq/ocx/internal/httpjson"
)

// GatewayTimeout is API Gateway's integration timeout.
const GatewayTimeout = 30 * time.Second

// Within is the deadline for a handler in a function that times out after
// functionTimeout: a fifth below it (or below GatewayTimeout, if that is
// sooner), leaving the runtime time to return the answer.
func Within(functionTimeout time.Duration) time.Duration {
	d := min(functionTimeout, GatewayTimeout)
	return d - d/5
}

// Wrap runs h with a context that ends after d. If h has not answered by
// then, the client gets 503 with Retry-After and whatever h writes later
// is dropped.
func Wrap(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		bw := &buffered{header: http.Header{}}
		done := make(chan struct{})
		panicked := make(chan any, 1)
		go func() {
			defer func() {
				if p := recover(); p != nil {
					panicked <- p
				}
			}()
			h.ServeHTTP(bw, r.WithContext(ctx))
			close(done)
		}()
		select {
		case p := <-panicked:
			panic(p)
		case <-done:
			bw.mu.Lock()
			defer bw.mu.Unlock()
			for k, v := range bw.header {
				w.Header()[k] = v
			}
			if bw.status == 0 {
				bw.status = http.StatusOK
			}
			w.WriteHeader(bw.status)
			_, _ = w.Write(bw.body.Bytes())
		case <-ctx.Done():
			bw.mu.Lock()
			defer bw.mu.Unlock()
			bw.timedOut = true
			w.Header().Set("Retry-After", strconv.Itoa(int(d/time.Second)+5))
			httpjson.Error(w, http.StatusServiceUnavailable, fmt.Sprintf("no answer within %s: a dependency is slow; retry later", d))
		}
	})
}

// buffered holds a handler's answer until it is complete, so a late
// answer can be dropped whole.
type buffered struct {
	mu       sync.Mutex
	header   http.Header
	status   int
	body     bytes.Buffer
	timedOut bool
}

func (b *buffered) Header() http.Header { return b.header }

func (b *buffered) WriteHeader(status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.status == 0 {
		b.status = status
	}
}

func (b *buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.timedOut {
		return 0, http.ErrHandlerTimeout
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
