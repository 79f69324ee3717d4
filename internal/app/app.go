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
	"github.com/ocxhq/ocx/internal/apigw"
	"github.com/ocxhq/ocx/internal/archive"
	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/console"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpdeadline"
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
}

// EnvS3PathStyle, set to "true", addresses S3 buckets by path rather than
// by virtual host: the emulator's endpoint is an IP address.
const EnvS3PathStyle = "OCX_S3_PATH_STYLE"

// Env is the environment of a process, defaulting unset fields.
func Env(cfg aws.Config, log *slog.Logger) Deps {
	return Deps{AWS: cfg, Getenv: os.Getenv, Now: time.Now, Log: log}
}

// s3 is the S3 client, addressing buckets by path when the environment
// says so.
func (d Deps) s3() *s3.Client {
	return s3.NewFromConfig(d.AWS, func(o *s3.Options) { o.UsePathStyle = d.Getenv(EnvS3PathStyle) == "true" })
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
//
// OCX_API_AUTH=jwt trusts API Gateway's JWT authorizer and takes the
// caller's role from its groups claim (OCX_JWT_GROUPS_CLAIM, default
// cognito:groups). OCX_ANALYST_TOKEN, when set, is a second bearer token
// that cannot call operator routes.
func (d Deps) guard() (httpauth.Guard, error) {
	ops := topology.OperatorRoutes()
	switch d.Getenv(topology.EnvAPIAuth) {
	case "iam":
		return httpauth.Guard{}, nil
	case "jwt":
		return httpauth.Guard{JWT: true, Claims: jwtClaims, GroupsClaim: d.Getenv(EnvJWTGroupsClaim), OperatorRoutes: ops}, nil
	}
	v, err := d.require("OCX_API_TOKEN")
	if err != nil {
		return httpauth.Guard{}, fmt.Errorf("%w (or set %s=iam behind an IAM authorizer)", err, topology.EnvAPIAuth)
	}
	return httpauth.Guard{Token: v["OCX_API_TOKEN"], AnalystToken: d.Getenv(EnvAnalystToken), OperatorRoutes: ops}, nil
}

// Environment of the guard and the console's sign-in.
const (
	EnvAnalystToken   = "OCX_ANALYST_TOKEN"
	EnvJWTGroupsClaim = "OCX_JWT_GROUPS_CLAIM"
	// EnvOIDC* describe the user pool's (or OIDC provider's) endpoints and
	// the console's app client, for the console's sign-in.
	EnvOIDCAuthorizeURL = "OCX_OIDC_AUTHORIZE_URL"
	EnvOIDCTokenURL     = "OCX_OIDC_TOKEN_URL"
	EnvOIDCLogoutURL    = "OCX_OIDC_LOGOUT_URL"
	EnvOIDCClientID     = "OCX_OIDC_CLIENT_ID"
	// EnvConsoleURL is the console's public URL, which alerts link to.
	EnvConsoleURL = "OCX_CONSOLE_URL"
	// EnvNotifyIdentity says how alerts show a customer's email or phone:
	// show (the default), mask or none.
	EnvNotifyIdentity = "OCX_NOTIFY_IDENTITY"
)

// jwtClaims reads the claims API Gateway's JWT authorizer validated from
// the request context the API Gateway translation (apigw) stores.
func jwtClaims(r *http.Request) (map[string]string, bool) {
	rc, ok := apigw.RequestContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil {
		return nil, false
	}
	return rc.Authorizer.JWT.Claims, true
}

// localAPIToken is the local stack's documented default token: the only
// one the console offers to a visitor without asking.
const localAPIToken = "ocx-local-token"

// consoleConfig tells the console how to sign in.
func (d Deps) consoleConfig() console.Config {
	cfg := console.Config{OperatorRoutes: topology.OperatorRoutes(), Auth: console.Auth{Mode: "token"}}
	switch d.Getenv(topology.EnvAPIAuth) {
	case "jwt":
		cfg.Auth = console.Auth{Mode: "oidc", AuthorizeURL: d.Getenv(EnvOIDCAuthorizeURL), TokenURL: d.Getenv(EnvOIDCTokenURL),
			LogoutURL: d.Getenv(EnvOIDCLogoutURL), ClientID: d.Getenv(EnvOIDCClientID), Scope: "openid email"}
	case "iam":
		cfg.Auth = console.Auth{Mode: "iam"}
	default:
		if d.Getenv("OCX_API_TOKEN") == localAPIToken {
			cfg.Auth.DefaultToken = localAPIToken
		}
	}
	return cfg
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
	arch := archive.New(d.s3(), v[topology.EnvArchiveBucket])
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
		Tally:         ingest.NewTally(pub, dynamo.NewIntakeTallies(d.dynamo(), intake), d.Log),
	}
	replayer := &ingest.Replayer{Channels: chans, Archive: arch, Quarantine: quarantine, Bus: pub, Now: d.Now}
	mux := http.NewServeMux()
	ingest.Routes(mux, svc, replayer, guard)
	// A backstop behind ingest's own deadline, for the bad-row routes.
	return httpdeadline.Wrap(mux, httpdeadline.Within(functionTimeout(topology.Ingest))), nil
}
