// Command journey is the OCX journey Lambda function, invoked by EventBridge.
package main

import (
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/function/journey"
	"github.com/ocxhq/ocx/internal/topology"
)

func main() { function.Run(topology.Journey, journey.Build) }
