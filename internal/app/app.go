// Package app builds each function's handler from its environment and AWS
// clients. The Lambda entry points and the local stack call the same
// constructors, so what runs locally is what runs in AWS.
package app

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/archive"
	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/httpdeadline"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/secrets"
	"github.com/ocxhq/ocx/internal/topology"
)

// Deps is what every function is built from.
type Deps struct {
	AWS aws.Config
	// Getenv reads configuration; os.Getenv in Lambda.
	Getenv func(string) string
	Now    func() time.Time
	Log    *slog.Logger
	// Bus, when set, replaces the EventBridge publisher (the local stack
	// wraps it to deliver events in-process).
	Bus bus.Publisher
	// S3PathStyle addresses buckets by path, as the emulator needs.
	S3PathStyle bool
}

// Env is the environment of a process, defaulting unset fields.
func Env(cfg aws.Config, log *slog.Logger) Deps {
	return Deps{AWS: cfg, Getenv: os.Getenv, Now: time.Now, Log: log}
}

// Logger is the JSON logger every function uses.
func Logger(function string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", function)
}

func (d Deps) require(names ...string) (map[string]string, error) {
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

func (d Deps) table(logical string) (string, error) {
	v, err := d.require(topology.TableEnv(logical))
	if err != nil {
		return "", err
	}
	return v[topology.TableEnv(logical)], nil
}

// EnvPublicBaseURL is the scheme and host providers call, for schemes that
// sign the URL (Twilio), when it differs from what the request says.
const EnvPublicBaseURL = "OCX_PUBLIC_BASE_URL"

// guard protects analyst and operator routes: OCX_API_AUTH=iam trusts API
// Gateway's IAM authorizer; otherwise OCX_API_TOKEN is the bearer token.
func (d Deps) guard() (httpauth.Guard, error) {
	if d.Getenv(topology.EnvAPIAuth) == "iam" {
		return httpauth.Guard{}, nil
	}
	v, err := d.require("OCX_API_TOKEN")
	if err != nil {
		return httpauth.Guard{}, fmt.Errorf("%w (or set %s=iam behind an IAM authorizer)", err, topology.EnvAPIAuth)
	}
	return httpauth.Guard{Token: v["OCX_API_TOKEN"]}, nil
}

// ConfigFS is the configuration tree: OCX_CONFIG_DIR when set, else the
// shipped files.
func (d Deps) ConfigFS() fs.FS {
	if dir := d.Getenv(topology.EnvConfigDir); dir != "" {
		return os.DirFS(dir)
	}
	return config.Shipped
}

func (d Deps) dynamo() *dynamodb.Client { return dynamodb.NewFromConfig(d.AWS) }

func (d Deps) publisher() (bus.Publisher, error) {
	if d.Bus != nil {
		return d.Bus, nil
	}
	v, err := d.require(topology.EnvBusName)
	if err != nil {
		return nil, err
	}
	return bus.New(eventbridge.NewFromConfig(d.AWS), v[topology.EnvBusName]), nil
}

func (d Deps) secrets() *secrets.Store {
	return secrets.New(secretsmanager.NewFromConfig(d.AWS), d.Getenv(topology.EnvSecretsPrefix))
}

// Ingest builds the webhook handler.
func Ingest(ctx context.Context, d Deps) (http.Handler, error) {
	v, err := d.require(topology.EnvArchiveBucket)
	if err != nil {
		return nil, err
	}
	intake, err := d.table(topology.TableIntake)
	if err != nil {
		return nil, err
	}
	pub, err := d.publisher()
	if err != nil {
		return nil, err
	}
	list, err := channel.Load(d.ConfigFS(), "channels.yaml")
	if err != nil {
		return nil, err
	}
	chans := map[string]channel.Channel{}
	for _, c := range list {
		chans[c.ID] = c
	}
	guard, err := d.guard()
	if err != nil {
		return nil, err
	}
	s3c := s3.NewFromConfig(d.AWS, func(o *s3.Options) { o.UsePathStyle = d.S3PathStyle })
	arch := archive.New(s3c, v[topology.EnvArchiveBucket])
	quarantine := dynamo.NewQuarantine(d.dynamo(), intake)
	svc := &ingest.Service{
		Channels:      chans,
		Secrets:       d.secrets(),
		Ledger:        dynamo.NewDeliveryLedger(d.dynamo(), intake),
		Archive:       arch,
		Quarantine:    quarantine,
		Bus:           pub,
		Metrics:       emf.New(os.Stdout),
		Now:           d.Now,
		Log:           d.Log,
		PublicBaseURL: d.Getenv(EnvPublicBaseURL),
	}
	replayer := &ingest.Replayer{Channels: chans, Archive: arch, Quarantine: quarantine, Bus: pub, Now: d.Now}
	mux := http.NewServeMux()
	ingest.Routes(mux, svc, replayer, guard)
	// A backstop behind ingest's own deadline, for the bad-row routes.
	return httpdeadline.Wrap(mux, httpdeadline.Within(functionTimeout(topology.Ingest))), nil
}
