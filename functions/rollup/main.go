// Command rollup is the OCX rollup Lambda function, run on a schedule.
package main

import "github.com/ocxhq/ocx/internal/app"

func main() { app.RunScheduled("rollup", app.Rollup) }
