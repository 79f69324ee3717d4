// Command outbound is the OCX outbound webhook Lambda function, invoked by
// EventBridge and by its wake-up queue.
package main

import (
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/function/outbound"
	"github.com/ocxhq/ocx/internal/topology"
)

func main() { function.Run(topology.Outbound, outbound.Build) }
