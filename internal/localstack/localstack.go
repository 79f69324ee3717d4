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
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/archive"
	"github.com/ocxhq/ocx/internal/awsclient"
	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/function"
	notifyfn "github.com/ocxhq/ocx/internal/function/notify"
	"github.com/ocxhq/ocx/internal/function/registry"
	"github.com/ocxhq/ocx/internal/motoserver"
	"github.com/ocxhq/ocx/internal/topology"
	"github.com/ocxhq/ocx/internal/zendesk/zendesktest"
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
	// OutboundURL receives outbound webhooks (OCX_OUTBOUND_URL); empty
	// prints them to the console.
	OutboundURL string
	// OutboundSecret signs them (OCX_OUTBOUND_SECRET, whsec_ secrets,
	// several during a rotation); empty means DemoOutboundSecret.
	OutboundSecret string
	// SlackSigningSecret verifies Slack's Acknowledge and Resolve requests
	// (OCX_SLACK_SIGNING_SECRET); empty means DefaultSlackSigningSecret.
	SlackSigningSecret string
	// ZendeskURL, ZendeskEmail and ZendeskToken name the Zendesk account
	// tickets are opened in (OCX_ZENDESK_URL, OCX_ZENDESK_EMAIL,
	// OCX_ZENDESK_TOKEN); an empty URL runs a local stand-in.
	ZendeskURL, ZendeskEmail, ZendeskToken string
	// APIToken is the analysts' bearer token (OCX_API_TOKEN).
	APIToken string
	// RollupEvery is the local rollup period (OCX_ROLLUP_INTERVAL).
	RollupEvery time.Duration
	// HoldBatches makes the bus queues hand over full batches only, and the
	// rest when the stack settles (Settle), in topology's order of
	// functions: a test that counts requests sees the same batches on
	// every run, whatever the machine's speed.
	HoldBatches bool
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
		MotoAddr:           getenv("OCX_MOTO_ADDR"),
		StateDir:           or(getenv("OCX_STATE_DIR"), DefaultStateDir),
		SlackURL:           getenv("OCX_SLACK_WEBHOOK_URL"),
		OutboundURL:        getenv(topology.EnvOutboundURL),
		OutboundSecret:     getenv("OCX_OUTBOUND_SECRET"),
		ZendeskURL:         getenv("OCX_ZENDESK_URL"),
		ZendeskEmail:       getenv("OCX_ZENDESK_EMAIL"),
		ZendeskToken:       getenv("OCX_ZENDESK_TOKEN"),
		SlackSigningSecret: or(getenv("OCX_SLACK_SIGNING_SECRET"), DefaultSlackSigningSecret),
		APIToken:           or(getenv("OCX_API_TOKEN"), DefaultAPIToken),
		Secrets:            map[string]string{},
		EmailFrom:          or(getenv(topology.EnvEmailFrom), DefaultFrom),
		ConfigDir:          getenv(config.EnvDir),
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
func (c Config) configFS() fs.FS { return c.tree().FS() }

func (c Config) tree() *config.Tree {
	if c.ConfigDir != "" {
		return config.Dir(c.ConfigDir)
	}
	return config.Shipped()
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
	// Zendesk is the local stand-in of Zendesk's Tickets API, when no
	// OCX_ZENDESK_URL names a real account.
	Zendesk   *zendesktest.Server
	cancel    context.CancelFunc
	router    *Router
	wakeups   *EventSources
	sqs       *sqs.Client
	functions map[string]*lambdaFunction
	env       map[string]map[string]string
	wg        sync.WaitGroup
}

// Start brings the stack up; it returns once /healthz answers.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	useZoneinfo()
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
	outboundSecret, err := provisionOutbound(ctx, awsCfg, res, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	if st.Zendesk, err = provisionZendesk(ctx, awsCfg, res, cfg); err != nil {
		ln.Close()
		return err
	}
	st.sqs = sqs.NewFromConfig(awsCfg)
	wakeQueues, wakeDLQs, err := provisionWakeups(ctx, st.sqs)
	if err != nil {
		ln.Close()
		return err
	}
	busQueues, busDLQs, err := provisionBusQueues(ctx, st.sqs)
	if err != nil {
		ln.Close()
		return err
	}
	st.env = functionEnv(res, cfg, prov, st.moto.Endpoint, st.URL)
	for fn, url := range wakeQueues {
		st.env[fn][topology.EnvWakeupQueue] = url
	}
	outboundURL := cfg.OutboundURL
	if outboundURL == "" {
		outboundURL = st.URL + consoleOutboundPath
	}
	for _, fn := range []string{topology.Outbound, topology.API} {
		st.env[fn][topology.EnvOutboundURL] = outboundURL
	}
	if err := st.writeEnv(); err != nil {
		ln.Close()
		return err
	}

	rules, err := busRules(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	router, err := NewRouter(res.Bus, rules, cfg.now, cfg.Log.With("component", "router"))
	if err != nil {
		ln.Close()
		return err
	}
	st.router = router
	st.functions, err = buildFunctions(ctx, st.env, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	st.wakeups = newEventSources(cfg.now, cfg.Log.With("component", "event-source"), cfg.HoldBatches)
	for _, f := range topology.Functions {
		dlq, routed := prov.dlqs[f.Name]
		switch {
		case !routed:
		case f.Bus != nil:
			router.AttachQueue(st.functions[f.Name], st.wakeups.Offer, dlq)
			st.wakeups.attachBus(st.functions[f.Name], *f.Bus, busQueues[f.Name], busDLQs[f.Name])
		default:
			router.Attach(st.functions[f.Name], dlq)
		}
	}
	for fn, url := range wakeQueues {
		st.wakeups.attach(st.functions[fn], url, wakeDLQs[fn])
	}
	st.moto.SetTap(func(target string, request, response []byte, status int) {
		router.Tap(target, request, response, status)
		st.wakeups.Tap(target, request, response, status)
	})
	runCtx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	router.Run(runCtx, st.sqs)
	st.wakeups.run(runCtx, st.sqs)
	st.runSchedules(runCtx)

	mux := http.NewServeMux()
	mux.HandleFunc("POST "+consoleSlackPath, consoleSlack(cfg.Log))
	mux.HandleFunc("POST "+consoleOutboundPath, consoleOutbound(outboundSecret, cfg.Log))
	// Everything else is API Gateway's: the routes of topology.Routes,
	// each invoking its function's Lambda handler.
	mux.Handle("/", &gateway{functions: st.functions, now: cfg.now, log: cfg.Log.With("component", "gateway")})
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

// functionEnv is each function's environment, as the CDK app sets it, with
// the emulator's endpoint and credentials in place of AWS's.
func functionEnv(res Names, cfg Config, prov provisioned, endpoint, consoleURL string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, f := range topology.Functions {
		env := res.Env()
		env["OCX_API_TOKEN"] = cfg.APIToken
		if cfg.ConfigDir != "" {
			env[config.EnvDir] = cfg.ConfigDir
		}
		env[topology.EnvEmailFrom] = cfg.EmailFrom
		env[archive.EnvPathStyle] = "true"
		// Alerts link to the console the stack serves, as the CDK app
		// points them at the deployed API's.
		env[notifyfn.EnvConsoleURL] = consoleURL
		if f.DeadLetters {
			// As in AWS, the function's own failures queue.
			env[topology.EnvDeadLetterQueue] = prov.dlqs[f.Name]
		}
		env["AWS_ENDPOINT_URL"] = endpoint
		if zi := Zoneinfo(); zi != "" {
			env[topology.EnvZoneinfo] = zi
		}
		env["AWS_REGION"] = Region
		env["AWS_ACCESS_KEY_ID"] = "testing"
		env["AWS_SECRET_ACCESS_KEY"] = "testing"
		env["AWS_LAMBDA_FUNCTION_NAME"] = functionName(f.Name)
		env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(f.MemoryMB)
		out[f.Name] = env
	}
	return out
}

func functionName(fn string) string { return "ocx-" + Stage + "-" + fn }

// buildFunctions builds every function's Lambda handler with its
// environment, as its main.go does in AWS.
func buildFunctions(ctx context.Context, env map[string]map[string]string, cfg Config) (map[string]*lambdaFunction, error) {
	out := map[string]*lambdaFunction{}
	for _, f := range topology.Functions {
		b, ok := registry.Builders[f.Name]
		if !ok {
			return nil, fmt.Errorf("function %s has no builder in internal/function/registry", f.Name)
		}
		fenv := env[f.Name]
		getenv := func(k string) string {
			if v, ok := fenv[k]; ok {
				return v
			}
			return os.Getenv(k)
		}
		// The SDK configuration comes from the function's environment, as
		// function.Run builds it in Lambda.
		awsCfg, err := function.AWSConfig(getenv)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", f.Name, err)
		}
		h, err := b(ctx, function.Deps{AWS: awsCfg, Getenv: getenv, Now: cfg.now, Log: cfg.Log.With("function", f.Name)})
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", f.Name, err)
		}
		out[f.Name] = &lambdaFunction{name: f.Name, handler: h, timeout: f.Timeout,
			arn: "arn:aws:lambda:" + Region + ":" + Account + ":function:" + functionName(f.Name)}
	}
	return out, nil
}

// EnvFile is where a running stack writes its functions' environments
// (in OCX_STATE_DIR), for `ocx invoke` to run a function's bootstrap with.
const EnvFile = "functions.json"

// Environment is the content of EnvFile.
type Environment struct {
	HTTP      string                       `json:"http"`
	Moto      string                       `json:"moto"`
	Functions map[string]map[string]string `json:"functions"`
}

func (st *Stack) writeEnv() error {
	raw, err := json.MarshalIndent(Environment{HTTP: st.URL, Moto: st.moto.Endpoint, Functions: st.env}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(st.cfg.StateDir, EnvFile), raw, 0o600); err != nil {
		return fmt.Errorf("write function environment: %w", err)
	}
	return nil
}

// ReadEnvironment reads what a running stack wrote in stateDir.
func ReadEnvironment(stateDir string) (Environment, error) {
	var env Environment
	raw, err := os.ReadFile(filepath.Join(stateDir, EnvFile))
	if err != nil {
		return env, fmt.Errorf("no running stack's environment in %s (is `make run` going with this OCX_STATE_DIR?): %w", stateDir, err)
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return env, fmt.Errorf("read %s: %w", EnvFile, err)
	}
	return env, nil
}

// scheduledEvent is the envelope EventBridge (a rule's schedule) sends a
// function when its schedule fires.
func scheduledEvent(rule string, at time.Time) ([]byte, error) {
	return json.Marshal(lambdaevents.CloudWatchEvent{
		Version: "0", ID: newID(), DetailType: "Scheduled Event", Source: "aws.events",
		AccountID: Account, Time: at.UTC().Truncate(time.Second), Region: Region,
		Resources: []string{"arn:aws:events:" + Region + ":" + Account + ":rule/" + rule}, Detail: json.RawMessage("{}"),
	})
}

// Meter counts the AWS requests the stack makes.
func (st *Stack) Meter() *motoserver.Meter { return &st.moto.Meter }

// Bus is a publisher to the stack's bus, the EventBridge client a
// function publishes with: what it puts reaches the routed functions.
func (st *Stack) Bus(ctx context.Context) (events.Publisher, error) {
	cfg, err := awsclient.Load(ctx, st.moto.Endpoint)
	if err != nil {
		return nil, err
	}
	return bus.New(eventbridge.NewFromConfig(cfg), Resources(Stage).Bus), nil
}

// Router is the stack's in-process event router.
func (st *Stack) Router() *Router { return st.router }

// Invocations returns the functions' invocations for bus events since the
// last call, direct ones and batches from bus queues, and resets them.
func (st *Stack) Invocations() map[string]int {
	out := st.router.Invocations()
	if out == nil {
		out = map[string]int{}
	}
	for fn, n := range st.wakeups.Invocations() {
		out[fn] += n
	}
	return out
}

// Billed is what Lambda would bill each function for since the last call:
// its invocations and their durations, each rounded up to the
// millisecond, as measured around its handler here.
type Billed struct {
	Invocations int
	Duration    time.Duration
}

// Billing returns each function's Billed since the last call, and resets it.
func (st *Stack) Billing() map[string]Billed {
	out := map[string]Billed{}
	for name, fn := range st.functions {
		if n, d := fn.billed.take(); n > 0 {
			out[name] = Billed{Invocations: n, Duration: d}
		}
	}
	return out
}

// Wakeups is the stack's event source mapping for the wake-up queues.
func (st *Stack) Wakeups() *EventSources { return st.wakeups }

// Settle waits, for at most limit, until every published event has been
// handled, with the events that handling published: direct deliveries
// done, and bus messages held for a batch handed over at once rather than
// at the end of their batching window. A message that failed and waits
// out its queue's visibility timeout is not waited for.
func (st *Stack) Settle(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if err := st.router.IdleWithin(time.Until(deadline)); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bus queues still hold %d messages after %s", st.wakeups.held.count(), limit)
		}
		// Each function's batch, then what it published reaching the
		// queues, before the next function's; a message back from its
		// visibility timeout is due like any other.
		handed := 0
		for _, f := range topology.Functions {
			handed += st.wakeups.flushBus(ctx, st.sqs, f.Name)
			if err := st.router.IdleWithin(time.Until(deadline)); err != nil {
				return err
			}
		}
		if handed == 0 && st.wakeups.held.count() == 0 {
			return nil
		}
	}
}

// DeliverWakeups hands the functions every wake-up due by the stack's
// clock and waits until they and the bus events they published are
// handled. The stack does this by itself within moments; tests that move
// the clock call it to know it has happened. A stack whose bus does not
// settle within settleLimit is an error.
func (st *Stack) DeliverWakeups(ctx context.Context) error {
	if err := st.Settle(ctx, settleLimit); err != nil {
		return err
	}
	st.wakeups.Drain(ctx, st.sqs)
	return st.Settle(ctx, settleLimit)
}

// settleLimit bounds how long DeliverWakeups waits for the bus.
const settleLimit = 3 * time.Minute

// Tick runs a schedule now, as its timer would: the function gets the
// scheduled event through its Lambda handler. Wake-ups due by the stack's
// clock are delivered first, as they would have been before the schedule
// ran. Tests use it with a moved clock instead of waiting.
func (st *Stack) Tick(ctx context.Context, schedule string) error {
	st.wakeups.Drain(ctx, st.sqs)
	for _, s := range topology.Schedules {
		if s.Name == schedule {
			return st.fire(ctx, s)
		}
	}
	return fmt.Errorf("no schedule %q", schedule)
}

func (st *Stack) fire(ctx context.Context, s topology.Schedule) error {
	fn := st.functions[s.Target]
	if fn == nil {
		return fmt.Errorf("schedule %s: no function %s", s.Name, s.Target)
	}
	payload, err := scheduledEvent(functionName(s.Name), st.cfg.now())
	if err != nil {
		return err
	}
	_, err = fn.invoke(ctx, payload)
	return err
}

// runSchedules drives topology.Schedules with the local clock; the rollup's
// period is OCX_ROLLUP_INTERVAL so a newcomer sees figures quickly.
func (st *Stack) runSchedules(ctx context.Context) {
	for _, s := range topology.Schedules {
		every := s.Every
		if s.Target == topology.Rollup {
			every = st.cfg.RollupEvery
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
					if err := st.fire(ctx, s); err != nil && ctx.Err() == nil {
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
	if st.wakeups != nil {
		st.wakeups.wait()
	}
	st.wg.Wait()
	if st.Zendesk != nil {
		st.Zendesk.Close()
	}
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
