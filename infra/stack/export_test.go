package stack

import (
	"time"

	"github.com/ocxhq/ocx/internal/topology"
)

// DeployedSize exposes to the template tests what a function is deployed
// with, so they check the template against topology and sizing.go rather
// than against copied numbers.
func DeployedSize(fn topology.Function) (memoryMB int, timeout time.Duration, reserved int, err error) {
	s, err := sizeOf(fn)
	return s.MemoryMB, s.Timeout, s.ReservedConcurrency, err
}

// Pascal is the construct id form of a name, as the stack derives it.
var Pascal = pascal
