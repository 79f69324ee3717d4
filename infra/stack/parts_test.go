package stack

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	shipped "github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/team"
	"github.com/ocxhq/ocx/internal/topology"
)

func TestEventPatternKeepsEveryTopologyPattern(t *testing.T) {
	for _, r := range topology.BusRules {
		p, err := eventPattern(r.Pattern)
		if err != nil {
			t.Errorf("%s: %v", r.Name, err)
			continue
		}
		if p.Source == nil {
			t.Errorf("%s: source dropped from %s", r.Name, r.Pattern)
		}
	}
}

// The outbound rule's $or goes to CloudFormation as written; every other
// pattern through awsevents.EventPattern.
func TestOrPatternTakesOnlyOr(t *testing.T) {
	cfg, err := loadConfig(shipped.Shipped, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cfg.busRules {
		raw, err := orPattern(r.Pattern)
		if err != nil {
			t.Errorf("%s: %v", r.Name, err)
			continue
		}
		if got, want := raw != nil, r.Name == topology.OutboundBusRule; got != want {
			t.Errorf("%s: taken as written %v, want %v (%s)", r.Name, got, want, r.Pattern)
		}
		if raw == nil {
			if _, err := eventPattern(r.Pattern); err != nil {
				t.Errorf("%s: %v", r.Name, err)
			}
		}
	}
	if _, err := orPattern(`{"$or":`); err == nil {
		t.Error("a broken pattern was accepted")
	}
}

func TestEventPatternRejectsWhatItCannotCarry(t *testing.T) {
	for name, pattern := range map[string]string{
		"content filter in source": `{"source":[{"prefix":"ocx."}]}`,
		"unknown top-level field":  `{"sauce":["ocx.ingest"]}`,
		"not JSON":                 `{"source":`,
	} {
		if _, err := eventPattern(pattern); err == nil {
			t.Errorf("%s: %s accepted", name, pattern)
		}
	}
}

func TestEventPatternPassesDetailThrough(t *testing.T) {
	p, err := eventPattern(`{"detail-type":["survey.responded"],"detail":{"score":[0,1],"survey":[{"prefix":"n"}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"score": []any{0.0, 1.0}, "survey": []any{map[string]any{"prefix": "n"}}}
	if p.Detail == nil || !reflect.DeepEqual(*p.Detail, want) {
		t.Errorf("detail = %v, want %v", p.Detail, want)
	}
	if p.DetailType == nil || *(*p.DetailType)[0] != "survey.responded" {
		t.Errorf("detail-type = %v", p.DetailType)
	}
}

func TestValidate(t *testing.T) {
	assets := t.TempDir()
	for _, fn := range topology.Functions {
		if err := os.MkdirAll(filepath.Join(assets, fn.Name), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"bootstrap", topology.ZoneinfoFile} {
			if err := os.WriteFile(filepath.Join(assets, fn.Name, f), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	ok := Props{AssetsDir: assets, Config: shipped.Shipped}
	p := ok
	if err := validate(&p); err != nil {
		t.Fatalf("valid props rejected: %v", err)
	}
	// Every function's asset carries the time zone database beside its
	// bootstrap: Lambda's image has none.
	zi := filepath.Join(assets, topology.Ingest, topology.ZoneinfoFile)
	if err := os.Remove(zi); err != nil {
		t.Fatal(err)
	}
	if p := ok; validate(&p) == nil {
		t.Error("an asset without zoneinfo.zip accepted")
	}
	if err := os.WriteFile(zi, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p.Stage != StageDev || p.EmailFrom != DefaultEmailFrom || p.AnalystAuth != AnalystAuthIAM {
		t.Errorf("defaults: stage %q, email %q, analyst auth %q", p.Stage, p.EmailFrom, p.AnalystAuth)
	}
	for name, change := range map[string]func(*Props){
		"custom domain": func(p *Props) {
			p.DomainName, p.CertificateArn = "ocx.example.com", "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-111122223333"
		},
		"jwt": func(p *Props) {
			p.AnalystAuth, p.JWTIssuer, p.JWTAudience = AnalystAuthJWT, "https://login.example.com/", []string{"ocx-api"}
		},
	} {
		p := ok
		change(&p)
		if err := validate(&p); err != nil {
			t.Errorf("%s: valid props rejected: %v", name, err)
		}
	}

	complete := assets
	assets = t.TempDir()
	for _, fn := range topology.Functions {
		if fn.Name == topology.Rollup {
			continue
		}
		if err := os.MkdirAll(filepath.Join(assets, fn.Name), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"bootstrap", topology.ZoneinfoFile} {
			if err := os.WriteFile(filepath.Join(assets, fn.Name, f), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	ok.AssetsDir = assets
	for name, tc := range map[string]struct {
		change func(*Props)
		want   string
	}{
		"unknown stage":       {func(p *Props) { p.Stage = "staging" }, `stage "staging"`},
		"bad sender":          {func(p *Props) { p.EmailFrom = "alerts" }, `email sender "alerts"`},
		"no config":           {func(p *Props) { p.Config = nil }, "no configuration"},
		"missing binary":      {func(p *Props) {}, "function " + topology.Rollup},
		"domain without cert": {func(p *Props) { p.DomainName = "ocx.example.com" }, "both domainName and certificateArn"},
		"cert without domain": {func(p *Props) { p.CertificateArn = "arn:aws:acm:eu-west-1:123456789012:certificate/x" }, "both domainName"},
		"domain with scheme": {func(p *Props) {
			p.DomainName, p.CertificateArn = "https://ocx.example.com", "arn:aws:acm:eu-west-1:123456789012:certificate/x"
		}, `domainName "https://ocx.example.com"`},
		"not an acm arn": {func(p *Props) {
			p.DomainName, p.CertificateArn = "ocx.example.com", "arn:aws:iam::123456789012:server-certificate/x"
		}, "certificateArn"},
		"unknown auth":       {func(p *Props) { p.AnalystAuth = "saml" }, `analystAuth "saml"`},
		"issuer without jwt": {func(p *Props) { p.JWTIssuer = "https://login.example.com/" }, "only with analystAuth=jwt"},
		"jwt without issuer": {func(p *Props) { p.AnalystAuth, p.JWTAudience = AnalystAuthJWT, []string{"ocx"} }, "jwtIssuer"},
		"jwt over plain http": {func(p *Props) {
			p.AnalystAuth, p.JWTIssuer, p.JWTAudience = AnalystAuthJWT, "http://idp", []string{"ocx"}
		}, "https URL"},
		"jwt without audience": {func(p *Props) { p.AnalystAuth, p.JWTIssuer = AnalystAuthJWT, "https://login.example.com/" }, "no jwtAudience"},
	} {
		p := ok
		if name != "missing binary" {
			// Every other case must fail for its own reason, not the
			// missing binary.
			p.AssetsDir = complete
		}
		tc.change(&p)
		err := validate(&p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(shipped.Shipped, "")
	if err != nil {
		t.Fatalf("shipped configuration: %v", err)
	}
	if len(cfg.channels) == 0 || len(cfg.slack) == 0 {
		t.Errorf("shipped configuration yields channels %v and slack %v", cfg.channels, cfg.slack)
	}

	got := secretsOf([]channel.Channel{{Config: channel.Config{ID: "stripe"}}, {Config: channel.Config{ID: "app"}}},
		[]team.Team{{ID: "a", Slack: "ops"}, {ID: "b", Slack: "ops"}, {ID: "c"}, {ID: "d", Slack: "pay"}})
	if want := []string{"stripe", "app"}; !reflect.DeepEqual(got.channels, want) {
		t.Errorf("channels %v, want %v", got.channels, want)
	}
	if want := []string{"ops", "pay"}; !reflect.DeepEqual(got.slack, want) {
		t.Errorf("slack %v, want %v (deduplicated, teams without slack skipped)", got.slack, want)
	}

	tree := fstest.MapFS{}
	if err := fs.WalkDir(shipped.Shipped, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(shipped.Shipped, p)
		tree[p] = &fstest.MapFile{Data: b}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	channels := tree["channels.yaml"].Data
	tree["channels.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(string(channels), "id: stripe", "id: a/b", 1))}
	if _, err := loadConfig(tree, ""); err == nil || !strings.Contains(err.Error(), "channels.yaml") {
		t.Errorf("channel id with a slash: error %v", err)
	}
	delete(tree, "channels.yaml")
	if _, err := loadConfig(tree, ""); err == nil {
		t.Error("missing channels.yaml accepted")
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{
		"interactions-to-journey": "InteractionsToJourney",
		"cx-support":              "CxSupport",
		"api":                     "Api",
		"a_b.c":                   "ABC",
	} {
		if got := pascal(in); got != want {
			t.Errorf("pascal(%q) = %q, want %q", in, got, want)
		}
	}
	if got := iamPath("/v1/metrics/{name}/series/{id}"); got != "/v1/metrics/*/series/*" {
		t.Errorf("iamPath = %q", got)
	}
	if got := regexpQuote("ocx/prod/channel/"); got != `ocx\/prod\/channel\/` {
		t.Errorf("regexpQuote = %q", got)
	}
}

// TestSizesJustifyTopology keeps sizing.go's reasons honest: every function
// has them, and they were written for the memory and timeout topology
// deploys.
func TestSizesJustifyTopology(t *testing.T) {
	for _, fn := range topology.Functions {
		s, ok := sizes[fn.Name]
		if !ok {
			t.Errorf("%s: not in sizes (infra/stack/sizing.go): add its memory, timeout and concurrency with reasons", fn.Name)
			continue
		}
		if s.WhyMemory == "" || s.WhyTimeout == "" || s.WhyConcurrency == "" {
			t.Errorf("%s: sizing without a reason for memory, timeout or concurrency: %+v", fn.Name, s)
		}
		if fn.MemoryMB > 0 && fn.MemoryMB != s.MemoryMB {
			t.Errorf("%s: topology deploys %d MB, sizing.go justifies %d MB: revisit the reason and the figure", fn.Name, fn.MemoryMB, s.MemoryMB)
		}
		if fn.Timeout > 0 && fn.Timeout != s.Timeout {
			t.Errorf("%s: topology deploys a %s timeout, sizing.go justifies %s: revisit the reason and the figure", fn.Name, fn.Timeout, s.Timeout)
		}
		if s.ReservedConcurrency < 0 {
			t.Errorf("%s: negative reserved concurrency", fn.Name)
		}
	}
	for name := range sizes {
		if _, ok := topology.FunctionByName(name); !ok {
			t.Errorf("sizing.go sizes %q, which topology no longer has", name)
		}
	}
}

func TestSizeOfFallsBackToSizing(t *testing.T) {
	got, err := sizeOf(topology.Function{Name: topology.Notify})
	if err != nil {
		t.Fatal(err)
	}
	if want := sizes[topology.Notify]; got != want {
		t.Errorf("unsized function: %+v, want sizing.go's %+v", got, want)
	}
	got, err = sizeOf(topology.Function{Name: topology.Notify, MemoryMB: 1024, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got.MemoryMB != 1024 || got.Timeout != time.Minute || got.ReservedConcurrency != sizes[topology.Notify].ReservedConcurrency {
		t.Errorf("topology override: %+v", got)
	}
	if _, err := sizeOf(topology.Function{Name: "timers", MemoryMB: 128, Timeout: time.Second}); err == nil ||
		!strings.Contains(err.Error(), "sizing.go") {
		t.Errorf("function without sizing: error %v, want one pointing at sizing.go", err)
	}
}

// TestAlarmedMetricsAreEmitted guards the ingest alarms against a renamed
// metric: the names must still be what internal/ingest records.
func TestAlarmedMetricsAreEmitted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "internal", "ingest", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("internal/ingest sources: %v %v", files, err)
	}
	var src strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	for _, m := range []string{metricPutEventsFailed, metricQuarantinedItems} {
		call := regexp.MustCompile(`Count\("` + m + `",[^\n]*"` + metricChannelDimension + `":`)
		if !call.MatchString(src.String()) {
			t.Errorf("internal/ingest no longer records %s with a %q dimension; the alarm on it would never fire", m, metricChannelDimension)
		}
	}
}

// TestCheckBusQueue: topology's bus queues fit their functions, and a
// queue that would break the mapping or hand a running batch out twice is
// refused before synthesis.
func TestCheckBusQueue(t *testing.T) {
	for _, fn := range topology.Functions {
		if fn.Bus == nil {
			continue
		}
		sz, err := sizeOf(fn)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkBusQueue(*fn.Bus, sz.Timeout); err != nil {
			t.Errorf("%s: %v", fn.Name, err)
		}
	}
	ok := topology.Queue{Visibility: time.Minute, MaxReceives: 5, BatchSize: 10}
	if err := checkBusQueue(ok, 30*time.Second); err != nil {
		t.Fatalf("valid queue refused: %v", err)
	}
	for name, tc := range map[string]struct {
		change func(*topology.Queue)
		want   string
	}{
		"visibility below timeout": {func(q *topology.Queue) { q.Visibility = 20 * time.Second }, "shorter than the function's timeout"},
		"fractional visibility":    {func(q *topology.Queue) { q.Visibility = 90*time.Second + time.Millisecond }, "whole seconds"},
		"no tries":                 {func(q *topology.Queue) { q.MaxReceives = 0 }, "receives"},
		"no batch":                 {func(q *topology.Queue) { q.BatchSize = 0 }, "batch size 0"},
		"big batch, no window":     {func(q *topology.Queue) { q.BatchSize = 25 }, "at least 1 s"},
		"fractional window":        {func(q *topology.Queue) { q.Window = 1500 * time.Millisecond }, "batching window"},
		"window too long":          {func(q *topology.Queue) { q.Window = 6 * time.Minute }, "batching window"},
	} {
		q := ok
		tc.change(&q)
		if err := checkBusQueue(q, 30*time.Second); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
}
