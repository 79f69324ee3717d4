// Command notify is the OCX notify Lambda function, invoked by EventBridge.
package main

import "github.com/ocxhq/ocx/internal/app"

func main() { app.Run("notify") }
