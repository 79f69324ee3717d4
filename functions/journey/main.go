// Command journey is the OCX journey Lambda function, invoked by EventBridge.
package main

import "github.com/ocxhq/ocx/internal/app"

func main() { app.Run("journey") }
