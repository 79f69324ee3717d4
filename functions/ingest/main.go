// Command ingest is the OCX ingest Lambda function, behind API Gateway.
package main

import "github.com/ocxhq/ocx/internal/app"

func main() { app.Run("ingest") }
