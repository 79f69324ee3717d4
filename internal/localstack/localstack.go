// Package localstack runs the whole system on one machine: it starts
// moto_server, provisions the resources internal/topology describes, serves
// the HTTP routes with the same handlers the Lambda functions use, delivers
// bus events to the same function handlers and drives the schedules with a
// local clock.
package localstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/app"
	"github.com/ocxhq/ocx/internal/awsclient"
	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/motoserver"
	"github.com/ocxhq/ocx/internal/topology"
)

// Config is the local stack's configuration, read from the environment.
type Config struct {
	// HTTPAddr serves the API and webhooks (OCX_HTTP_ADDR).
	HTTPAddr string
	// MotoAddr is where moto_server listens (OCX_MOTO_ADDR); empty picks a free port.
	MotoAddr string
	// StateDir keeps the emulator's recording so state survives restarts (OCX_STATE_DIR).
	StateDir string
	// Secrets maps channel id to its comma-separated secrets (OCX_SECRET_<ID>).
	Secrets map[string]string
	// SlackURL receives every team's Slack messages (OCX_SLACK_WEBHOOK_URL);
	// empty prints them to the console.
	SlackURL string
	// SlackSigningSecret verifies Slack's Acknowledge and Resolve requests
	// (OCX_SLACK_SIGNING_SECRET); empty means DefaultSlackSigningSecret.
	SlackSigningSecret string
	// APIToken is the analysts' bearer token (OCX_API_TOKEN).
	APIToken string
	// RollupEvery is the local rollup period (OCX_ROLLUP_INTERVAL).
	RollupEvery time.Duration
	// EmailFrom is the sender of alert mail.
	EmailFrom string
	// ConfigDir holds channels, teams and rules to use instead of the
	// shipped configuration (OCX_CONFIG_DIR).
	ConfigDir string
	// Now is the stack's clock; tests move it to make timers fall due.
	// Nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Defaults of the local stack.
const (
	DefaultHTTPAddr = "127.0.0.1:8080"
	DefaultMotoAddr = "127.0.0.1:4577"
	DefaultStateDir = ".ocx"
	DefaultAPIToken = "ocx-local-token"
	DefaultFrom     = "alerts@ocx.example"
	// DefaultSlackSigningSecret is the local Slack signing secret: fixed so
	// a locally signed action verifies on every machine. Never use it in AWS.
	DefaultSlackSigningSecret = "ocx-local-slack-signing-secret"
	// Stage names the local resources, as dev and prod do in AWS.
	Stage = "local"
)

// FromEnv reads Config from the environment, applying defaults.
func FromEnv(getenv func(string) string, log *slog.Logger) (Config, error) {
	c := Config{
		HTTPAddr:           or(getenv("OCX_HTTP_ADDR"), DefaultHTTPAddr),
		MotoAddr:           or(getenv("OCX_MOTO_ADDR"), DefaultMotoAddr),
		StateDir:           or(getenv("OCX_STATE_DIR"), DefaultStateDir),
		SlackURL:           getenv("OCX_SLACK_WEBHOOK_URL"),
		SlackSigningSecret: or(getenv("OCX_SLACK_SIGNING_SECRET"), DefaultSlackSigningSecret),
		APIToken:           or(getenv("OCX_API_TOKEN"), DefaultAPIToken),
		Secrets:            map[string]string{},
		EmailFrom:          or(getenv(topology.EnvEmailFrom), DefaultFrom),
		ConfigDir:          getenv(topology.EnvConfigDir),
		Log:                log,
	}
	every, err := time.ParseDuration(or(getenv("OCX_ROLLUP_INTERVAL"), "1m"))
	if err != nil || every <= 0 {
		return c, fmt.Errorf("OCX_ROLLUP_INTERVAL %q: want a positive duration such as 1m or 30s", getenv("OCX_ROLLUP_INTERVAL"))
	}
	c.RollupEvery = every
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if id, ok := strings.CutPrefix(k, "OCX_SECRET_"); ok && v != "" {
			c.Secrets[strings.ReplaceAll(strings.ToLower(id), "_", "-")] = v
		}
	}
	return c, nil
}

// configFS is the configuration tree the stack runs with.
func (c Config) configFS() fs.FS {
	if c.ConfigDir != "" {
		return os.DirFS(c.ConfigDir)
	}
	return config.Shipped
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Stack is a running local system.
type Stack struct {
	cfg    Config
	moto   *motoserver.Server
	server *http.Server
	// URL is the base URL of the HTTP API.
	URL string
	// Moto is the emulator's endpoint.
	Moto string
	// ChannelSecrets are the secrets in effect, by channel.
	ChannelSecrets map[string]Secret
	cancel         context.CancelFunc
	router         *Router
	schedules      map[string]func(context.Context) error
	wg             sync.WaitGroup
}

// Start brings the stack up; it returns once /healthz answers.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	recording := filepath.Join(cfg.StateDir, "moto-recording.jsonl")
	had := fileHasData(recording)
	motoLog, err := os.OpenFile(filepath.Join(cfg.StateDir, "moto.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("moto log: %w", err)
	}
	m, err := motoserver.Start(ctx, motoserver.Options{Addr: cfg.MotoAddr, RecordingFile: recording, Log: motoLog, Serialize: true})
	if err != nil {
		return nil, err
	}
	st := &Stack{cfg: cfg, moto: m, Moto: m.Endpoint}
	if err := st.start(ctx, had); err != nil {
		st.Stop()
		return nil, err
	}
	return st, nil
}

func fileHasData(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Size() > 0
}

func (st *Stack) start(ctx context.Context, replay bool) error {
	cfg := st.cfg
	if replay {
		cfg.Log.Info("restoring local state", "from", cfg.StateDir)
		if err := st.moto.Replay(ctx); err != nil {
			return fmt.Errorf("restore state (run `make reset` to start afresh): %w", err)
		}
	}
	awsCfg, err := awsclient.Load(ctx, st.moto.Endpoint)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (set OCX_HTTP_ADDR to change): %w", cfg.HTTPAddr, err)
	}
	st.URL = "http://" + ln.Addr().String()

	res := Resources(Stage)
	slackURL := cfg.SlackURL
	if slackURL == "" {
		slackURL = st.URL + consoleSlackPath
	}
	prov, err := provision(ctx, awsCfg, res, cfg, slackURL)
	if err != nil {
		ln.Close()
		return err
	}
	st.ChannelSecrets = prov.channelSecrets

	env := res.Env()
	env["OCX_API_TOKEN"] = cfg.APIToken
	if cfg.ConfigDir != "" {
		env[topology.EnvConfigDir] = cfg.ConfigDir
	}
	env[topology.EnvEmailFrom] = cfg.EmailFrom
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	router, err := NewRouter(bus.New(eventbridge.NewFromConfig(awsCfg), res.Bus), cfg.Log.With("component", "router"))
	if err != nil {
		ln.Close()
		return err
	}
	st.router = router
	deps := func(fn string) app.Deps {
		get := getenv
		if f, _ := topology.FunctionByName(fn); f.DeadLetters {
			// As in AWS, the function's own failures queue.
			get = func(k string) string {
				if k == topology.EnvDeadLetterQueue {
					return prov.dlqs[fn]
				}
				return getenv(k)
			}
		}
		return app.Deps{AWS: awsCfg, Getenv: get, Now: cfg.now, Log: cfg.Log.With("function", fn), Bus: router, S3PathStyle: true}
	}
	h, err := buildHandlers(ctx, deps)
	if err != nil {
		ln.Close()
		return err
	}
	for fn, eh := range h.events {
		router.Attach(fn, eh, prov.dlqs[fn])
	}
	runCtx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	router.Run(runCtx, sqs.NewFromConfig(awsCfg))
	st.schedules = scheduleRunners(h, cfg.now)
	st.runSchedules(runCtx)

	mux := http.NewServeMux()
	for _, r := range topology.Routes {
		mux.Handle(r.Method+" "+r.Path, h.http[r.Target])
	}
	// Webhooks answer wrong methods themselves with a JSON 405.
	mux.Handle("/v1/webhooks/{channel}", h.http[topology.Ingest])
	mux.HandleFunc("POST "+consoleSlackPath, consoleSlack(cfg.Log))
	st.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		if err := st.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

type handlers struct {
	http      map[string]http.Handler
	events    map[string]app.EventHandler
	scheduled map[string]app.ScheduledHandler
}

func buildHandlers(ctx context.Context, deps func(string) app.Deps) (handlers, error) {
	h := handlers{http: map[string]http.Handler{}, events: map[string]app.EventHandler{}, scheduled: map[string]app.ScheduledHandler{}}
	var err error
	if h.http[topology.Ingest], err = app.Ingest(ctx, deps(topology.Ingest)); err != nil {
		return h, fmt.Errorf("build ingest: %w", err)
	}
	if h.http[topology.API], err = app.API(ctx, deps(topology.API)); err != nil {
		return h, fmt.Errorf("build api: %w", err)
	}
	if h.events[topology.Journey], err = app.Journey(ctx, deps(topology.Journey)); err != nil {
		return h, fmt.Errorf("build journey: %w", err)
	}
	if h.events[topology.Rules], err = app.Rules(ctx, deps(topology.Rules)); err != nil {
		return h, fmt.Errorf("build rules: %w", err)
	}
	if h.events[topology.Notify], err = app.Notify(ctx, deps(topology.Notify)); err != nil {
		return h, fmt.Errorf("build notify: %w", err)
	}
	if h.events[topology.Rollup], err = app.RollupEvents(ctx, deps(topology.Rollup)); err != nil {
		return h, fmt.Errorf("build rollup: %w", err)
	}
	return h, nil
}

// scheduleRunners binds each schedule to its function. A function that
// handles bus events gets the "Scheduled Event" envelope EventBridge sends.
func scheduleRunners(h handlers, now func() time.Time) map[string]func(context.Context) error {
	out := map[string]func(context.Context) error{}
	for _, s := range topology.Schedules {
		if fn, ok := h.scheduled[s.Target]; ok {
			out[s.Name] = fn
			continue
		}
		if fn, ok := h.events[s.Target]; ok {
			name := s.Name
			out[s.Name] = func(ctx context.Context) error {
				return fn(ctx, lambdaevents.CloudWatchEvent{
					Version: "0", ID: newID(), DetailType: "Scheduled Event", Source: "aws.events",
					AccountID: "000000000000", Time: now().UTC(), Region: "us-east-1",
					Resources: []string{"arn:aws:events:us-east-1:000000000000:rule/" + name}, Detail: []byte("{}"),
				})
			}
		}
	}
	return out
}

// Meter counts the AWS requests the stack makes.
func (st *Stack) Meter() *motoserver.Meter { return &st.moto.Meter }

// Router is the stack's in-process event router.
func (st *Stack) Router() *Router { return st.router }

// Tick runs a schedule now, as its timer would; tests use it with a moved
// clock instead of waiting.
func (st *Stack) Tick(ctx context.Context, schedule string) error {
	fn, ok := st.schedules[schedule]
	if !ok {
		return fmt.Errorf("no schedule %q", schedule)
	}
	return fn(ctx)
}

// runSchedules drives topology.Schedules with the local clock; the rollup's
// period is OCX_ROLLUP_INTERVAL so a newcomer sees figures quickly.
func (st *Stack) runSchedules(ctx context.Context) {
	for _, s := range topology.Schedules {
		every := s.Every
		if s.Target == topology.Rollup {
			every = st.cfg.RollupEvery
		}
		fn := st.schedules[s.Name]
		if fn == nil {
			st.cfg.Log.Error("schedule has no handler", "schedule", s.Name, "target", s.Target)
			continue
		}
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := fn(ctx); err != nil && ctx.Err() == nil {
						st.cfg.Log.Error("scheduled run failed", "schedule", s.Name, "err", err)
					}
				}
			}
		}()
	}
}

// Stop shuts everything down; state stays in StateDir.
func (st *Stack) Stop() {
	if st.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = st.server.Shutdown(ctx)
		cancel()
	}
	if st.cancel != nil {
		st.cancel()
	}
	if st.router != nil {
		st.router.Wait()
	}
	st.wg.Wait()
	if st.moto != nil {
		st.moto.Stop()
	}
}

// Reset deletes the local state.
func Reset(stateDir string) error {
	if err := os.RemoveAll(stateDir); err != nil {
		return fmt.Errorf("reset %s: %w", stateDir, err)
	}
	return nil
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
