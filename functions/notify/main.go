// Command notify is the OCX notify Lambda function, invoked by EventBridge.
package main

import (
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/function/notify"
	"github.com/ocxhq/ocx/internal/topology"
)

func main() { function.Run(topology.Notify, notify.Build) }
