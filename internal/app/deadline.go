package app

import (
	"time"

	"github.com/ocxhq/ocx/internal/topology"
)

// functionTimeout is the Lambda timeout topology gives a function, which
// bounds the deadline its HTTP handler may set.
func functionTimeout(name string) time.Duration {
	if f, ok := topology.FunctionByName(name); ok && f.Timeout > 0 {
		return f.Timeout
	}
	return 30 * time.Second
}
