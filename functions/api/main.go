// Command api is the OCX api Lambda function, behind API Gateway.
package main

import (
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/function/api"
	"github.com/ocxhq/ocx/internal/topology"
)

func main() { function.Run(topology.API, api.Build) }
