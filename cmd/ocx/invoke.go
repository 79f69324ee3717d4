package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/runtimeapi"
	"github.com/ocxhq/ocx/internal/topology"
)

// errFunction marks an invocation the function answered with an error:
// the answer is printed, and ocx exits non-zero.
var errFunction = errors.New("the function reported an error")

// runInvoke builds a function's bootstrap and runs it as its own process
// against a local Lambda Runtime API, with the environment the running
// local stack gives that function, feeding it one event file.
func runInvoke(ctx context.Context, stdout, logs io.Writer, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("usage: ocx invoke FUNCTION --event FILE [--bootstrap PATH] (functions: %s)", functionNames())
	}
	name := args[0]
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	eventFile := fs.String("event", "", "the event: an API Gateway 2.0, EventBridge, scheduled or SQS event as AWS sends it (- for stdin)")
	bootstrap := fs.String("bootstrap", "", "a bootstrap already built for this machine (default: build ./functions/FUNCTION)")
	stateDir := fs.String("state", envOr("OCX_STATE_DIR", localstack.DefaultStateDir), "the running local stack's state directory (OCX_STATE_DIR)")
	timeout := fs.Duration("timeout", 0, "invocation deadline (default: the function's configured timeout)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	fn, ok := topology.FunctionByName(name)
	if !ok {
		return fmt.Errorf("no function %q (functions: %s)", name, functionNames())
	}
	if *eventFile == "" {
		return errors.New("--event FILE is required")
	}
	payload, err := readFile(*eventFile)
	if err != nil {
		return fmt.Errorf("read event: %w", err)
	}
	stack, err := localstack.ReadEnvironment(*stateDir)
	if err != nil {
		return err
	}
	if want := os.Getenv("OCX_HTTP_ADDR"); want != "" && stack.HTTP != "http://"+want {
		return fmt.Errorf("the stack in %s serves %s, not OCX_HTTP_ADDR=%s: point OCX_STATE_DIR at that stack's state", *stateDir, stack.HTTP, want)
	}
	env, ok := stack.Functions[name]
	if !ok {
		return fmt.Errorf("the running stack has no environment for %s", name)
	}
	path := *bootstrap
	if path == "" {
		dir, err := os.MkdirTemp("", "ocx-invoke-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		wd, _ := os.Getwd()
		mod, err := runtimeapi.ModuleDir(wd)
		if err != nil {
			return err
		}
		fmt.Fprintf(logs, "building ./functions/%s\n", name)
		if path, err = runtimeapi.Build(ctx, mod, "./functions/"+name, dir); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vars := make([]string, 0, len(env))
	for _, k := range keys {
		vars = append(vars, k+"="+env[k])
	}
	proc, err := runtimeapi.Start(path, vars, logs)
	if err != nil {
		return err
	}
	defer proc.Stop()
	limit := fn.Timeout
	if *timeout > 0 {
		limit = *timeout
	}
	// The cold start counts against the same deadline as in Lambda's
	// init phase (10 s) plus the invocation's.
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second+limit)
	defer cancel()
	out, err := proc.Invoke(ictx, runtimeapi.Invocation{
		RequestID: newRequestID(), Deadline: time.Now().Add(limit), Payload: payload,
		FunctionARN: "arn:aws:lambda:" + localstack.Region + ":" + localstack.Account + ":function:" + env["AWS_LAMBDA_FUNCTION_NAME"],
	})
	var fe *runtimeapi.FunctionError
	if errors.As(err, &fe) {
		fmt.Fprintf(stdout, "{\"errorType\":%q,\"errorMessage\":%q}\n", fe.Type, fe.Message)
		return fmt.Errorf("%w: %v", errFunction, fe)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, strings.TrimSpace(string(out)))
	return err
}

func functionNames() string {
	names := make([]string, 0, len(topology.Functions))
	for _, f := range topology.Functions {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

func readFile(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

func newRequestID() string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", time.Now().Unix(), time.Now().UnixNano()&0xffffffffffff)
}
