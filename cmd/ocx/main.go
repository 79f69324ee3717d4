// Command ocx is the operator's tool: run the local stack, sign a test
// webhook, check configuration.
package main

import (
	"context"
	"fmt"
	"os"
)

const usage = `usage: ocx <command> [flags]

commands:
  local    run the whole system locally against moto_server (what 'make run' does)
  reset    delete the local stack's state
  sign     print a curl command that sends a correctly signed webhook
  check    validate channels, teams and rules configuration
  badrows  list quarantined payloads (verified but not mappable)
  replay   re-map quarantined payloads after a mapping fix
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx := context.Background()
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "local":
		err = runLocal(ctx, args)
	case "reset":
		err = runReset(args)
	case "sign":
		err = runSign(os.Stdout, args)
	case "check":
		err = runCheck(os.Stdout, args)
	case "badrows":
		err = runBadRows(ctx, os.Stdout, args)
	case "replay":
		err = runReplay(ctx, os.Stdout, args)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "ocx: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocx:", err)
		os.Exit(1)
	}
}
