// Command ocx is the operator's tool: run the local stack, sign a test
// webhook, check configuration.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

const usage = `usage: ocx <command> [flags]

commands:
  local    run the whole system locally against moto_server (what 'make run' does)
  reset    delete the local stack's state
  sign     print a curl command that sends a correctly signed webhook
  check    validate channels, teams and rules configuration
  rules    check failure rules and run their unit tests (ocx rules check|test)
  badrows  list quarantined payloads (verified but not mappable)
  replay   re-map quarantined payloads after a mapping fix
  demo     send a month of signed multi-channel traffic to a running local stack
  backfill rebuild metric counters for a range from stored interactions
  customer show one customer (by id or --key identity key)
  erase    delete everything about one customer, leaving an audit record
  unmerge  undo a customer merge
  silence  add, list or expire notification silences
  deadletters  list what is on every dead-letter queue
  redrive  put the events on the dead-letter queues back on the bus
  invoke   run a function's real bootstrap against a local Lambda Runtime API with one event
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
	case "rules":
		err = runRules(ctx, os.Stdout, args)
	case "badrows":
		err = runBadRows(ctx, os.Stdout, args)
	case "replay":
		err = runReplay(ctx, os.Stdout, args)
	case "demo":
		err = runDemo(ctx, os.Stdout, args)
	case "backfill":
		err = runBackfill(ctx, os.Stdout, args)
	case "customer":
		err = runCustomer(ctx, os.Stdout, args)
	case "erase":
		err = runErase(ctx, os.Stdout, args)
	case "unmerge":
		err = runUnmerge(ctx, os.Stdout, args)
	case "silence":
		err = runSilence(ctx, os.Stdout, args)
	case "deadletters":
		err = runDeadLetters(ctx, os.Stdout, args)
	case "redrive":
		err = runRedrive(ctx, os.Stdout, args)
	case "invoke":
		err = runInvoke(ctx, os.Stdout, os.Stderr, args)
		if errors.Is(err, errFunction) {
			os.Exit(1)
		}
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
