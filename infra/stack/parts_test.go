package stack

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ocxhq/ocx/infra/config"
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
		if err := os.WriteFile(filepath.Join(assets, fn.Name, "bootstrap"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ok := Props{AssetsDir: assets, Config: config.Shipped}
	p := ok
	if err := validate(&p); err != nil {
		t.Fatalf("valid props rejected: %v", err)
	}
	if p.Stage != StageDev || p.EmailFrom != DefaultEmailFrom {
		t.Errorf("defaults: stage %q, email %q", p.Stage, p.EmailFrom)
	}

	missing := filepath.Join(assets, topology.Rollup, "bootstrap")
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		change func(*Props)
		want   string
	}{
		"unknown stage":  {func(p *Props) { p.Stage = "staging" }, `stage "staging"`},
		"bad sender":     {func(p *Props) { p.EmailFrom = "alerts" }, `email sender "alerts"`},
		"no config":      {func(p *Props) { p.Config = nil }, "no configuration"},
		"missing binary": {func(p *Props) {}, "function " + topology.Rollup},
	} {
		p := ok
		tc.change(&p)
		err := validate(&p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(config.Shipped)
	if err != nil {
		t.Fatalf("shipped configuration: %v", err)
	}
	if len(cfg.channels) == 0 || len(cfg.slack) == 0 {
		t.Errorf("shipped configuration yields channels %v and slack %v", cfg.channels, cfg.slack)
	}

	tree := fstest.MapFS{
		"channels.yaml": {Data: []byte("channels:\n  - id: stripe\n  - id: app\n")},
		"teams.yaml": {Data: []byte("teams:\n  - id: a\n    slack: ops\n  - id: b\n    slack: ops\n" +
			"  - id: c\n  - id: d\n    slack: pay\n")},
	}
	cfg, err = loadConfig(tree)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"stripe", "app"}; !reflect.DeepEqual(cfg.channels, want) {
		t.Errorf("channels %v, want %v", cfg.channels, want)
	}
	if want := []string{"ops", "pay"}; !reflect.DeepEqual(cfg.slack, want) {
		t.Errorf("slack %v, want %v (deduplicated, teams without slack skipped)", cfg.slack, want)
	}

	tree["channels.yaml"] = &fstest.MapFile{Data: []byte("channels:\n  - id: a/b\n")}
	if _, err := loadConfig(tree); err == nil || !strings.Contains(err.Error(), "channels.yaml") {
		t.Errorf("channel id with a slash: error %v", err)
	}
	delete(tree, "channels.yaml")
	if _, err := loadConfig(tree); err == nil {
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
