// Package function is what every Lambda function is built on: the
// environment it reads, the handler shapes Lambda invokes (API Gateway
// HTTP, EventBridge events and schedules, SQS batches) and Run, which
// hands a function's handler to the Lambda runtime. Each function's own
// wiring lives in a package below this one and links only what it runs;
// the local stack invokes the same handlers.
package function

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/topology"
)

// Deps is what every function is built from.
type Deps struct {
	AWS aws.Config
	// Getenv reads configuration; os.Getenv in Lambda.
	Getenv func(string) string
	Now    func() time.Time
	Log    *slog.Logger
}

// Builder constructs a function's Lambda handler.
type Builder func(ctx context.Context, d Deps) (Handler, error)

// Handler is a function's Lambda handler, exactly what its main.go passes
// to lambda.Start: an HTTPHandler, an EventHandler, or for a function with
// wake-ups one that takes EventBridge events and SQS batches alike. The
// local stack invokes the same value through lambda.NewHandler with JSON
// payloads shaped as AWS sends them.
type Handler any

// Logger is the JSON logger every function uses.
func Logger(function string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", function)
}

// Require reads environment variables that must be set.
func (d Deps) Require(names ...string) (map[string]string, error) {
	out := map[string]string{}
	var missing []string
	for _, n := range names {
		v := d.Getenv(n)
		if v == "" {
			missing = append(missing, n)
		}
		out[n] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing environment: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Setting reads an optional environment variable.
func (d Deps) Setting(name, fallback string) string {
	if v := d.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// Table is the physical name of a logical table.
func (d Deps) Table(logical string) (string, error) {
	v, err := d.Require(topology.TableEnv(logical))
	if err != nil {
		return "", err
	}
	return v[topology.TableEnv(logical)], nil
}

// Config is the configuration tree the function runs with.
func (d Deps) Config() *config.Tree { return config.Open(d.Getenv) }

// ConfigFS is the configuration tree's files.
func (d Deps) ConfigFS() fs.FS { return d.Config().FS() }

// Timeout is the Lambda timeout topology gives a function, which bounds
// the deadline its HTTP handler may set.
func Timeout(name string) time.Duration {
	if f, ok := topology.FunctionByName(name); ok && f.Timeout > 0 {
		return f.Timeout
	}
	return 30 * time.Second
}

// Run builds the function from the process environment and hands it to
// the Lambda runtime. A cold start that cannot work exits with a logged
// reason (an init error) rather than serving errors.
func Run(name string, b Builder) {
	ctx := context.Background()
	log := Logger(name)
	cfg, err := AWSConfig(os.Getenv)
	if err == nil {
		var h Handler
		if h, err = b(ctx, Deps{AWS: cfg, Getenv: os.Getenv, Now: time.Now, Log: log}); err == nil {
			lambda.Start(h)
			return
		}
	}
	log.Error("cannot start", "err", err)
	os.Exit(1)
}
