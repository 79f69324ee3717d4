// Package bootstrap builds the functions' Lambda bootstraps as `make
// build` does and measures what a cold start pays for them: the binary's
// size and its init, from exec until its first request for an invocation
// on the Runtime API.
package bootstrap

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/runtimeapi"
	"github.com/ocxhq/ocx/internal/topology"
)

// MaxSize is every function's budget for its stripped arm64 bootstrap:
// what Lambda downloads and maps on a cold start.
const MaxSize = 12_000_000

// Flags are `make build`'s: no RPC runtime, no paths, no symbols.
var Flags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// Build compiles package pkg (e.g. ./functions/ingest, relative to the
// module root) for goos/goarch into out.
func Build(ctx context.Context, root, pkg, goos, goarch, out string) error {
	args := append([]string{"build"}, Flags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s for %s/%s: %w: %s", pkg, goos, goarch, err, stderr.Bytes())
	}
	return nil
}

// Size is a file's size in bytes.
func Size(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", path, err)
	}
	return fi.Size(), nil
}

// Env is an environment every function starts with: the names the CDK
// app sets, pointing nowhere, as init must not call AWS.
func Env() []string {
	env := []string{
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=init", "AWS_SECRET_ACCESS_KEY=init",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512", "HOME=" + os.TempDir(),
		topology.EnvBusName + "=ocx-bus", topology.EnvArchiveBucket + "=ocx-archive", topology.EnvRawStreamPrefix + "=ocx-raw-",
		topology.EnvSecretsPrefix + "=ocx/", topology.EnvEmailFrom + "=ocx@example.com",
		topology.EnvDeadLetterQueue + "=https://sqs.us-east-1.amazonaws.com/000000000000/dlq",
		topology.EnvWakeupQueue + "=https://sqs.us-east-1.amazonaws.com/000000000000/wakeups",
		"OCX_API_TOKEN=init",
	}
	if zi := localstack.Zoneinfo(); zi != "" {
		env = append(env, topology.EnvZoneinfo+"="+zi)
	}
	for _, t := range topology.Tables {
		env = append(env, topology.TableEnv(t.Name)+"=ocx-"+t.Name)
	}
	return env
}

// Init runs bootstrap against a stub Runtime API and returns the time from
// exec until its first request for an invocation, when Lambda would
// consider init done.
func Init(ctx context.Context, bootstrap string, env []string) (time.Duration, error) {
	var logs bytes.Buffer
	start := time.Now()
	p, err := runtimeapi.Start(bootstrap, env, &logs)
	if err != nil {
		return 0, err
	}
	defer p.Stop()
	select {
	case <-p.API.Nexts():
		return time.Since(start), nil
	case <-p.Exited():
		return 0, fmt.Errorf("%s exited during init: %s", filepath.Base(filepath.Dir(bootstrap)), logs.Bytes())
	case <-ctx.Done():
		return 0, fmt.Errorf("%s: no request for an invocation: %w", bootstrap, ctx.Err())
	}
}
