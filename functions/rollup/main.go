// Command rollup is the OCX rollup Lambda function: it counts bus events
// into metric counters and, on its schedule, rolls them up.
package main

import "github.com/ocxhq/ocx/internal/app"

func main() { app.Run("rollup") }
