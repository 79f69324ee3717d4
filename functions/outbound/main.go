// Command outbound is the OCX outbound webhook Lambda function, invoked by
// EventBridge and by its wake-up queue.
package main

import "github.com/ocxhq/ocx/internal/app"

func main() { app.Run("outbound") }
