// Command api is the OCX api Lambda function, behind API Gateway.
package main

import "github.com/ocxhq/ocx/internal/app"

func main() { app.Run("api") }
