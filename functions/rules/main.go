// Command rules is the OCX rules Lambda function, invoked by EventBridge.
package main

import (
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/function/rules"
	"github.com/ocxhq/ocx/internal/topology"
)

func main() { function.Run(topology.Rules, rules.Build) }
