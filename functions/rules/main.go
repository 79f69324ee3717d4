// Command rules is the OCX rules Lambda function, invoked by EventBridge.
package main

import "github.com/ocxhq/ocx/internal/app"

func main() { app.Run("rules") }
