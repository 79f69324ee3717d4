// Command ingest is the OCX ingest Lambda function, behind API Gateway.
package main

import (
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/function/ingest"
	"github.com/ocxhq/ocx/internal/topology"
)

func main() { function.Run(topology.Ingest, ingest.Build) }
