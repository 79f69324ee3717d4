// Command rollup is the OCX rollup Lambda function: it counts bus events
// into metric counters and, on its schedule, rolls them up.
package main

import (
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/function/rollup"
	"github.com/ocxhq/ocx/internal/topology"
)

func main() { function.Run(topology.Rollup, rollup.Build) }
