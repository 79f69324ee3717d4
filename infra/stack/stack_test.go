package stack_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
	"go.yaml.in/yaml/v3"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/infra/stack"
	"github.com/ocxhq/ocx/internal/eventpattern"
	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/topology"
)

// synthesized is one variant of the stack, synthesized once and shared by
// the tests: starting the jsii runtime and synthesizing takes seconds.
type synthesized struct {
	variant  string
	stage    string
	props    stack.Props
	file     string // template JSON on disk, for cfn-lint
	raw      []byte // the template as written to file
	tmpl     cfnTemplate
	errors   []string // unsuppressed cdk-nag errors
	warnings []string // unsuppressed cdk-nag warnings
}

// variant is one way of deploying the stack that the tests synthesize.
type variant struct {
	name  string
	props stack.Props // Stage and the optional API settings; the rest is filled in
}

// variants are both stages with their defaults, and prod with every
// optional API setting (custom domain, JWT analysts).
var variants = []variant{
	{name: stack.StageDev, props: stack.Props{Stage: stack.StageDev}},
	{name: stack.StageProd, props: stack.Props{Stage: stack.StageProd}},
	{name: "prod-domain-jwt", props: stack.Props{
		Stage:          stack.StageProd,
		DomainName:     "ocx.example.com",
		CertificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-111122223333",
		AnalystAuth:    stack.AnalystAuthJWT,
		JWTIssuer:      "https://login.example.com/",
		JWTAudience:    []string{"ocx-api", "ocx-cli"},
	}},
	// The console's people in the stack's own user pool.
	{name: "dev-cognito", props: stack.Props{Stage: stack.StageDev, AnalystAuth: stack.AnalystAuthCognito}},
}

type cfnTemplate struct {
	Resources map[string]cfnResource `json:"Resources"`
	Outputs   map[string]struct {
		Value any `json:"Value"`
	} `json:"Outputs"`
}

type cfnResource struct {
	Type           string         `json:"Type"`
	Properties     map[string]any `json:"Properties"`
	Metadata       map[string]any `json:"Metadata"`
	DeletionPolicy string         `json:"DeletionPolicy"`
}

var stages map[string]*synthesized

func TestMain(m *testing.M) {
	// Node 20 is past end of life; the banner is noise in test output.
	os.Setenv("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
	dir, err := os.MkdirTemp("", "ocx-infra-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code, err := run(m, dir)
	jsii.Close()
	os.RemoveAll(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "synthesize:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M, dir string) (int, error) {
	assets, err := fakeAssets(dir)
	if err != nil {
		return 0, err
	}
	stages = map[string]*synthesized{}
	for _, v := range variants {
		s, err := synthesize(dir, assets, v)
		if err != nil {
			return 0, fmt.Errorf("variant %s: %w", v.name, err)
		}
		stages[v.name] = s
	}
	return m.Run(), nil
}

// fakeAssets makes one folder per function with a stand-in bootstrap: synth
// only packages the directory.
func fakeAssets(dir string) (string, error) {
	assets := filepath.Join(dir, "assets")
	for _, fn := range topology.Functions {
		if err := os.MkdirAll(filepath.Join(assets, fn.Name), 0o755); err != nil {
			return "", err
		}
		bin := filepath.Join(assets, fn.Name, "bootstrap")
		if err := os.WriteFile(bin, []byte("#!/bin/sh\necho "+fn.Name+"\n"), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(assets, fn.Name, topology.ZoneinfoFile), []byte("zoneinfo of "+fn.Name), 0o644); err != nil {
			return "", err
		}
	}
	return assets, nil
}

// cdkContext is the context cdk.json gives the app (feature flags), so the
// tests synthesize what `cdk synth` does.
func cdkContext() (map[string]any, error) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "cdk.json"))
	if err != nil {
		return nil, fmt.Errorf("read cdk.json: %w", err)
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &cdk); err != nil {
		return nil, fmt.Errorf("parse cdk.json: %w", err)
	}
	return cdk.Context, nil
}

func synthesize(dir, assets string, v variant) (*synthesized, error) {
	ctx, err := cdkContext()
	if err != nil {
		return nil, err
	}
	app := awscdk.NewApp(&awscdk.AppProps{
		Outdir:  jsii.String(filepath.Join(dir, "cdk.out-"+v.name)),
		Context: &ctx,
	})
	props := v.props
	props.AssetsDir = assets
	props.AlarmEmail = "oncall@example.com"
	props.Config = config.Shipped
	stage := props.Stage
	st, err := stack.New(app, "ocx-"+stage, props)
	if err != nil {
		return nil, err
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)

	raw, err := json.MarshalIndent(assertions.Template_FromStack(st, nil).ToJSON(), "", " ")
	if err != nil {
		return nil, fmt.Errorf("encode template: %w", err)
	}
	if props.AnalystAuth == "" {
		props.AnalystAuth = stack.AnalystAuthIAM // the stack's default
	}
	s := &synthesized{variant: v.name, stage: stage, props: props, raw: raw,
		file: filepath.Join(dir, "ocx-"+v.name+".template.json")}
	if err := os.WriteFile(s.file, raw, 0o644); err != nil {
		return nil, fmt.Errorf("write template: %w", err)
	}
	if err := json.Unmarshal(raw, &s.tmpl); err != nil {
		return nil, fmt.Errorf("decode template: %w", err)
	}
	nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	ann := assertions.Annotations_FromStack(st)
	s.errors = messages(ann.FindError(jsii.String("*"), nag))
	s.warnings = messages(ann.FindWarning(jsii.String("*"), nag))
	return s, nil
}

func messages(found *[]*cxapi.SynthesisMessage) []string {
	var out []string
	if found == nil {
		return nil
	}
	for _, m := range *found {
		out = append(out, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
	}
	return out
}

// forEachStage runs test on every synthesized variant.
func forEachStage(t *testing.T, test func(t *testing.T, s *synthesized)) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { test(t, stages[v.name]) })
	}
}

// ofType returns the logical ids and resources of one type, in id order.
func (c cfnTemplate) ofType(typ string) ([]string, []cfnResource) {
	var ids []string
	for id, r := range c.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var rs []cfnResource
	for _, id := range ids {
		rs = append(rs, c.Resources[id])
	}
	return ids, rs
}

func TestFunctionsFollowTopology(t *testing.T) {
	forEachStage(t, func(t *testing.T, s *synthesized) {
		_, fns := s.tmpl.ofType("AWS::Lambda::Function")
		if len(fns) != len(topology.Functions) {
			t.Fatalf("%d functions, want %d", len(fns), len(topology.Functions))
		}
		for _, want := range topology.Functions {
			fn, ok := s.function(want.Name)
			if !ok {
				t.Errorf("no function %s", want.Name)
				continue
			}
			p := fn.Properties
			check := func(what string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: %s = %v, want %v", fn.name, what, got, want)
				}
			}
			check("Runtime", p["Runtime"], "provided.al2023")
			check("Architectures", p["Architectures"], []any{"arm64"})
			check("Handler", p["Handler"], "bootstrap")
			memory, timeout, reserved, err := stack.DeployedSize(want)
			if err != nil {
				t.Errorf("%s: %v", want.Name, err)
			}
			check("MemorySize", p["MemorySize"], float64(memory))
			check("Timeout", p["Timeout"], timeout.Seconds())
			if reserved > 0 {
				check("ReservedConcurrentExecutions", p["ReservedConcurrentExecutions"], float64(reserved))
			} else {
				check("ReservedConcurrentExecutions", p["ReservedConcurrentExecutions"], nil)
			}
			check("TracingConfig", p["TracingConfig"], map[string]any{"Mode": "Active"})
			check("LogFormat", dig(p, "LoggingConfig", "LogFormat"), "JSON")

			env := fn.env()
			check("stage env", env[topology.EnvStage], s.stage)
			check("secrets prefix env", env[topology.EnvSecretsPrefix], "ocx/"+s.stage+"/")
			check("email env", env[topology.EnvEmailFrom], stack.DefaultEmailFrom)
			if env[topology.EnvBusName] == nil {
				t.Errorf("%s: no %s", fn.name, topology.EnvBusName)
			}
			if (env[topology.EnvArchiveBucket] != nil) != want.Archive {
				t.Errorf("%s: %s set = %v, want %v", fn.name, topology.EnvArchiveBucket, env[topology.EnvArchiveBucket] != nil, want.Archive)
			}
			var tables []string
			for k := range env {
				if strings.HasPrefix(k, "OCX_TABLE_") {
					tables = append(tables, k)
				}
			}
			var wantTables []string
			for _, name := range want.Tables {
				wantTables = append(wantTables, topology.TableEnv(name))
			}
			sort.Strings(tables)
			sort.Strings(wantTables)
			check("table env", tables, wantTables)
		}
		// Whatever the authorizer, functions behind analyst routes trust
		// the gateway to have authenticated the caller: with IAM its policy
		// chose the routes, with a token the function reads the groups.
		wantAuth := map[string]string{stack.AnalystAuthIAM: "iam", stack.AnalystAuthJWT: "jwt", stack.AnalystAuthCognito: "jwt"}[s.props.AnalystAuth]
		for _, want := range topology.Functions {
			analysts := false
			for _, r := range topology.Routes {
				analysts = analysts || r.Target == want.Name && r.Auth == topology.Analyst
			}
			fn, _ := s.function(want.Name)
			got := fn.env()[topology.EnvAPIAuth]
			if analysts && got != wantAuth {
				t.Errorf("%s serves analyst routes: %s = %v, want %s", want.Name, topology.EnvAPIAuth, got, wantAuth)
			}
			if analysts && s.props.AnalystAuth == stack.AnalystAuthCognito {
				for _, k := range []string{"OCX_OIDC_AUTHORIZE_URL", "OCX_OIDC_TOKEN_URL", "OCX_OIDC_CLIENT_ID", "OCX_CONSOLE_URL"} {
					if fn.env()[k] == nil {
						t.Errorf("%s signs people in with the user pool but lacks %s", want.Name, k)
					}
				}
			}
			if !analysts && got != nil {
				t.Errorf("%s serves no analyst route: %s = %v, want unset", want.Name, topology.EnvAPIAuth, got)
			}
		}
	})
}

// TestNotifyConcurrencyFitsSlack checks the one downstream limit the stack
// protects: notify posts to Slack webhooks, which accept about one message
// a second.
func TestNotifyConcurrencyFitsSlack(t *testing.T) {
	fn, ok := topology.FunctionByName(topology.Notify)
	if !ok {
		t.Fatal("topology has no notify function")
	}
	if _, _, reserved, _ := stack.DeployedSize(fn); reserved < 1 || reserved > 5 {
		t.Errorf("notify reserved concurrency %d, want a small cap (1-5) for Slack's rate limit", reserved)
	}
}

func TestTablesFollowTopology(t *testing.T) {
	forEachStage(t, func(t *testing.T, s *synthesized) {
		_, tables := s.tmpl.ofType("AWS::DynamoDB::GlobalTable")
		if len(tables) != len(topology.Tables) {
			t.Fatalf("%d tables, want %d", len(tables), len(topology.Tables))
		}
		for _, want := range topology.Tables {
			tbl, ok := s.table(want.Name)
			if !ok {
				t.Errorf("no table %s", want.Name)
				continue
			}
			p := tbl.Properties
			if got := p["BillingMode"]; got != "PAY_PER_REQUEST" {
				t.Errorf("%s: BillingMode %v", want.Name, got)
			}
			if got := keys(p["KeySchema"]); !reflect.DeepEqual(got, []string{topology.PK, topology.SK}) {
				t.Errorf("%s: keys %v", want.Name, got)
			}
			replica := dig(p, "Replicas", 0)
			if dig(replica, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
				t.Errorf("%s: point-in-time recovery off", want.Name)
			}
			if dig(p, "SSESpecification", "SSEEnabled") != true {
				t.Errorf("%s: SSE not enabled: %v", want.Name, p["SSESpecification"])
			}
			wantTTL := want.TTL != ""
			if got := dig(p, "TimeToLiveSpecification", "Enabled") == true; got != wantTTL {
				t.Errorf("%s: TTL enabled %v, want %v", want.Name, got, wantTTL)
			} else if wantTTL && dig(p, "TimeToLiveSpecification", "AttributeName") != want.TTL {
				t.Errorf("%s: TTL attribute %v", want.Name, p["TimeToLiveSpecification"])
			}
			gsis, _ := p["GlobalSecondaryIndexes"].([]any)
			if len(gsis) != len(want.Indexes) {
				t.Errorf("%s: %d indexes, want %d", want.Name, len(gsis), len(want.Indexes))
			}
			for i, ix := range want.Indexes {
				if i >= len(gsis) {
					break
				}
				g := gsis[i]
				if dig(g, "IndexName") != ix.Name || dig(g, "Projection", "ProjectionType") != "ALL" ||
					!reflect.DeepEqual(keys(dig(g, "KeySchema")), []string{ix.PartitionKey, ix.SortKey}) {
					t.Errorf("%s: index %d = %v, want %+v with ALL projection", want.Name, i, g, ix)
				}
			}
			prod := s.stage == stack.StageProd
			if got := dig(replica, "DeletionProtectionEnabled") == true; got != prod {
				t.Errorf("%s: deletion protection %v, want %v", want.Name, got, prod)
			}
			wantPolicy := map[bool]string{true: "Retain", false: "Delete"}[prod]
			if tbl.DeletionPolicy != wantPolicy {
				t.Errorf("%s: DeletionPolicy %q, want %q", want.Name, tbl.DeletionPolicy, wantPolicy)
			}
		}
	})
}

// busRules are the bus rules the stack builds from the shipped
// configuration: topology's, the outbound function's pattern derived from
// outbound.yaml's subscriptions (whether active or not, so the same in
// every variant).
func busRules(t *testing.T) []topology.BusRule {
	t.Helper()
	subs, err := outbound.Load(config.Shipped, outbound.File, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	rules, err := topology.BusRulesFor(outbound.Patterns(subs))
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func TestBusRulesFollowTopology(t *testing.T) {
	built := busRules(t)
	forEachStage(t, func(t *testing.T, s *synthesized) {
		ids, rules := s.tmpl.ofType("AWS::Events::Rule")
		var patterned, scheduled []cfnResource
		for _, r := range rules {
			if r.Properties["EventPattern"] != nil {
				patterned = append(patterned, r)
			} else {
				scheduled = append(scheduled, r)
			}
		}
		if len(patterned) != len(built) {
			t.Errorf("%d pattern rules, want %d", len(patterned), len(built))
		}
		if len(scheduled) != len(topology.Schedules) {
			t.Errorf("%d schedule rules, want %d", len(scheduled), len(topology.Schedules))
		}
		for _, want := range built {
			var pattern any
			if err := json.Unmarshal([]byte(want.Pattern), &pattern); err != nil {
				t.Fatalf("%s: %v", want.Name, err)
			}
			// A function with a bus queue takes its events from there;
			// any other is invoked by the rule.
			fn, _ := s.function(want.Target)
			target, what := fn.id, "function "+want.Target
			if f, _ := topology.FunctionByName(want.Target); f.Bus != nil {
				id, _, ok := s.busQueue(want.Target)
				if !ok {
					t.Errorf("%s: no bus queue for %s", want.Name, want.Target)
					continue
				}
				target, what = id, "the bus queue of "+want.Target
			}
			found := 0
			for _, r := range patterned {
				if reflect.DeepEqual(r.Properties["EventPattern"], pattern) && targets(r, target) {
					found++
					if r.Properties["EventBusName"] == nil {
						t.Errorf("%s: on the default bus", want.Name)
					}
					if target != fn.id && targets(r, fn.id) {
						t.Errorf("%s: invokes %s, which takes its events from its bus queue", want.Name, want.Target)
					}
				}
			}
			if found != 1 {
				t.Errorf("%s: %d rules with pattern %s targeting %s, want 1", want.Name, found, want.Pattern, what)
			}
		}
		for _, want := range topology.Schedules {
			fn, _ := s.function(want.Target)
			found := 0
			for _, r := range scheduled {
				if r.Properties["ScheduleExpression"] == want.Expression() && targets(r, fn.id) {
					found++
				}
			}
			if found != 1 {
				t.Errorf("schedule %s: %d rules with %s targeting %s, want 1", want.Name, found, want.Expression(), want.Target)
			}
		}
		for i, r := range rules {
			tgts, _ := r.Properties["Targets"].([]any)
			if len(tgts) == 0 {
				t.Errorf("rule %s has no targets", ids[i])
			}
			for _, tg := range tgts {
				if dig(tg, "DeadLetterConfig", "Arn") == nil {
					t.Errorf("rule %s: target without DeadLetterConfig: %v", ids[i], tg)
				}
				if dig(tg, "RetryPolicy", "MaximumRetryAttempts") == nil || dig(tg, "RetryPolicy", "MaximumEventAgeInSeconds") == nil {
					t.Errorf("rule %s: target without RetryPolicy: %v", ids[i], tg)
				}
			}
		}
	})
}

// TestOutboundRuleTakesOnlySubscribedEvents checks the deployed pattern
// itself: the outbound function is invoked for the failure events the
// shipped subscription wants and for replay commands, never for a
// journey event.
func TestOutboundRuleTakesOnlySubscribedEvents(t *testing.T) {
	var description string
	for _, r := range topology.BusRules {
		if r.Name == topology.OutboundBusRule {
			description = r.Description
		}
	}
	forEachStage(t, func(t *testing.T, s *synthesized) {
		var pattern *eventpattern.Pattern
		_, rules := s.tmpl.ofType("AWS::Events::Rule")
		for _, r := range rules {
			if r.Properties["Description"] != description {
				continue
			}
			raw, err := json.Marshal(r.Properties["EventPattern"])
			if err != nil {
				t.Fatal(err)
			}
			if pattern, err = eventpattern.Compile(raw); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
		}
		if pattern == nil {
			t.Fatalf("no rule %s", topology.OutboundBusRule)
		}
		for _, c := range []struct {
			source, detailType string
			want               bool
		}{
			{events.SourceRules, events.TypeFailureDetected, true},
			{events.SourceOutbound, events.TypeOutboundReplay, true},
			{events.SourceJourney, events.TypeJourneyStarted, false},
		} {
			env := fmt.Sprintf(`{"version":"0","id":"e1","source":%q,"detail-type":%q,"account":"123456789012","region":"eu-west-1","time":"2026-01-02T03:04:05Z","resources":[],"detail":{}}`,
				c.source, c.detailType)
			if got, err := pattern.MatchJSON([]byte(env)); err != nil || got != c.want {
				t.Errorf("%s %s: matched %v (%v), want %v", c.source, c.detailType, got, err, c.want)
			}
		}
	})
}

// TestEventDrivenFunctionsKeepFailures checks that every function
// EventBridge invokes asynchronously (from a schedule, or a bus rule
// unless the function takes its bus events from a queue) keeps what it
// failed on in an on-failure queue.
func TestEventDrivenFunctionsKeepFailures(t *testing.T) {
	invoked := map[string]bool{}
	for _, r := range topology.BusRules {
		if f, _ := topology.FunctionByName(r.Target); f.Bus == nil {
			invoked[r.Target] = true
		}
	}
	for _, sc := range topology.Schedules {
		invoked[sc.Target] = true
	}
	forEachStage(t, func(t *testing.T, s *synthesized) {
		_, configs := s.tmpl.ofType("AWS::Lambda::EventInvokeConfig")
		if len(configs) != len(invoked) {
			t.Errorf("%d async invoke configs, want %d", len(configs), len(invoked))
		}
		for name := range invoked {
			fn, _ := s.function(name)
			var cfg *cfnResource
			for i := range configs {
				if refs(configs[i].Properties["FunctionName"])[fn.id] {
					cfg = &configs[i]
				}
			}
			if cfg == nil {
				t.Errorf("%s: no async invoke config", name)
				continue
			}
			dest := dig(cfg.Properties, "DestinationConfig", "OnFailure", "Destination")
			if dest == nil || cfg.Properties["MaximumRetryAttempts"] == nil {
				t.Errorf("%s: async config without retries or on-failure queue: %v", name, cfg.Properties)
			}
			for id := range refs(dest) {
				if s.tmpl.Resources[id].Type != "AWS::SQS::Queue" {
					t.Errorf("%s: on-failure destination %s is a %s", name, id, s.tmpl.Resources[id].Type)
				}
			}
		}
	})
}

func TestQueuesAreEncryptedAndAlarmed(t *testing.T) {
	forEachStage(t, func(t *testing.T, s *synthesized) {
		ids, queues := s.tmpl.ofType("AWS::SQS::Queue")
		alarmed := map[string]bool{}
		_, alarms := s.tmpl.ofType("AWS::CloudWatch::Alarm")
		for _, a := range alarms {
			for _, d := range asList(a.Properties["Dimensions"]) {
				for id := range refs(d) {
					alarmed[id] = true
				}
			}
		}
		for i, q := range queues {
			if q.Properties["SqsManagedSseEnabled"] != true {
				t.Errorf("queue %s not encrypted", ids[i])
			}
			if !alarmed[ids[i]] {
				t.Errorf("queue %s has no alarm", ids[i])
			}
		}
		_, policies := s.tmpl.ofType("AWS::SQS::QueuePolicy")
		sslDenied := map[string]bool{}
		for _, p := range policies {
			for _, st := range asList(dig(p.Properties, "PolicyDocument", "Statement")) {
				if dig(st, "Effect") == "Deny" && dig(st, "Condition", "Bool", "aws:SecureTransport") == "false" {
					for id := range refs(p.Properties["Queues"]) {
						sslDenied[id] = true
					}
				}
			}
		}
		for _, id := range ids {
			if !sslDenied[id] {
				t.Errorf("queue %s does not enforce SSL", id)
			}
		}
	})
}

func TestNoWildcardActions(t *testing.T) {
	forEachStage(t, func(t *testing.T, s *synthesized) {
		for id, r := range s.tmpl.Resources {
			var docs []any
			switch r.Type {
			case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
				docs = append(docs, r.Properties["PolicyDocument"])
			case "AWS::IAM::Role":
				for _, p := range asList(r.Properties["Policies"]) {
					docs = append(docs, dig(p, "PolicyDocument"))
				}
			}
			for _, doc := range docs {
				for _, st := range asList(dig(doc, "Statement")) {
					for _, a := range actions(st) {
						if strings.Contains(a, "*") {
							t.Errorf("%s (%s) allows wildcard action %q", id, r.Type, a)
						}
					}
				}
			}
		}
	})
}

// TestLeastPrivilege checks each function's role against what topology
// says the function touches.
func TestLeastPrivilege(t *testing.T) {
	forEachStage(t, func(t *testing.T, s *synthesized) {
		roles := map[string]bool{}
		for _, want := range topology.Functions {
			fn, ok := s.function(want.Name)
			if !ok {
				t.Fatalf("no function %s", want.Name)
			}
			role := ""
			for id := range refs(fn.Properties["Role"]) {
				role = id
			}
			if roles[role] {
				t.Errorf("%s: role %s shared with another function", want.Name, role)
			}
			roles[role] = true
			if r := s.tmpl.Resources[role]; len(asList(r.Properties["ManagedPolicyArns"])) > 0 {
				t.Errorf("%s: role has managed policies %v", want.Name, r.Properties["ManagedPolicyArns"])
			}

			granted := map[string]map[string]bool{} // action -> resources referenced
			for _, st := range s.roleStatements(role) {
				if dig(st, "Effect") != "Allow" {
					continue
				}
				for _, a := range actions(st) {
					if granted[a] == nil {
						granted[a] = map[string]bool{}
					}
					for id := range refs(dig(st, "Resource")) {
						granted[a][id] = true
					}
				}
			}
			wantTables := map[string]bool{}
			for k, v := range fn.env() {
				if strings.HasPrefix(k, "OCX_TABLE_") {
					for id := range refs(v) {
						wantTables[id] = true
					}
				}
			}
			if len(wantTables) != len(want.Tables) {
				t.Errorf("%s: env names %d tables, topology %d", want.Name, len(wantTables), len(want.Tables))
			}
			if got := granted["dynamodb:PutItem"]; !reflect.DeepEqual(nonNil(got), wantTables) {
				t.Errorf("%s: dynamodb:PutItem on %v, want %v", want.Name, got, wantTables)
			}
			expect := func(action string, want bool) {
				t.Helper()
				if got := granted[action] != nil; got != want {
					t.Errorf("%s: %s granted = %v, want %v", fn.name, action, got, want)
				}
			}
			expect("events:PutEvents", want.PutsEvents)
			expect("s3:PutObject", want.Archive)
			expect("firehose:PutRecord", want.Name == topology.Ingest)
			expect("ses:SendEmail", want.SendsEmail)
			expect("secretsmanager:GetSecretValue", len(want.Secrets) > 0)
			expect("logs:PutLogEvents", true)
		}
	})
}

func TestStatefulResourcesSurviveInProd(t *testing.T) {
	forEachStage(t, func(t *testing.T, s *synthesized) {
		want := map[string]string{stack.StageDev: "Delete", stack.StageProd: "Retain"}[s.stage]
		for _, typ := range []string{"AWS::DynamoDB::GlobalTable", "AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::SecretsManager::Secret"} {
			ids, rs := s.tmpl.ofType(typ)
			if len(rs) == 0 {
				t.Errorf("no %s", typ)
			}
			for i, r := range rs {
				if r.DeletionPolicy != want {
					t.Errorf("%s %s: DeletionPolicy %q, want %q", typ, ids[i], r.DeletionPolicy, want)
				}
			}
		}
	})
}

func TestArchiveBucket(t *testing.T) {
	forEachStage(t, func(t *testing.T, s *synthesized) {
		ids, buckets := s.tmpl.ofType("AWS::S3::Bucket")
		var archive *cfnResource
		for i, b := range buckets {
			if dig(b.Properties, "PublicAccessBlockConfiguration", "RestrictPublicBuckets") != true {
				t.Errorf("bucket %s does not block public access", ids[i])
			}
			if dig(b.Properties, "BucketEncryption", "ServerSideEncryptionConfiguration", 0,
				"ServerSideEncryptionByDefault", "SSEAlgorithm") != "AES256" {
				t.Errorf("bucket %s not encrypted with S3-managed keys", ids[i])
			}
			if strings.HasPrefix(ids[i], "ArchiveBucket") {
				archive = &buckets[i]
			}
		}
		if archive == nil {
			t.Fatal("no archive bucket")
		}
		if dig(archive.Properties, "LoggingConfiguration", "DestinationBucketName") == nil {
			t.Error("archive bucket has no server access logs")
		}
		rule := dig(archive.Properties, "LifecycleConfiguration", "Rules", 0)
		if s.stage == stack.StageProd {
			if dig(rule, "ExpirationInDays") != 400.0 {
				t.Errorf("prod archive expiry: %v", rule)
			}
			var classes []any
			for _, tr := range asList(dig(rule, "Transitions")) {
				classes = append(classes, dig(tr, "StorageClass"), dig(tr, "TransitionInDays"))
			}
			if want := []any{"STANDARD_IA", 30.0, "GLACIER_IR", 90.0}; !reflect.DeepEqual(classes, want) {
				t.Errorf("prod archive transitions %v, want %v", classes, want)
			}
		} else if dig(rule, "ExpirationInDays") != 30.0 {
			t.Errorf("dev archive expiry: %v", rule)
		}
	})
}

func TestAPIRoutes(t *testing.T) {
	forEachStage(t, func(t *testing.T, s *synthesized) {
		_, routes := s.tmpl.ofType("AWS::ApiGatewayV2::Route")
		if len(routes) != len(topology.Routes) {
			t.Errorf("%d routes, want %d", len(routes), len(topology.Routes))
		}
		byKey := map[string]cfnResource{}
		for _, r := range routes {
			byKey[fmt.Sprint(r.Properties["RouteKey"])] = r
		}
		for _, want := range topology.Routes {
			r, ok := byKey[want.Method+" "+want.Path]
			if !ok {
				t.Errorf("no route %s %s", want.Method, want.Path)
				continue
			}
			auth := r.Properties["AuthorizationType"]
			wantAnalyst := map[string]string{stack.AnalystAuthIAM: "AWS_IAM", stack.AnalystAuthJWT: "JWT", stack.AnalystAuthCognito: "JWT"}[s.props.AnalystAuth]
			if want.Auth == topology.Analyst && auth != wantAnalyst {
				t.Errorf("%s %s: authorization %v, want %s", want.Method, want.Path, auth, wantAnalyst)
			}
			if want.Auth == topology.Public && auth != nil && auth != "NONE" {
				t.Errorf("%s %s: authorization %v, want none", want.Method, want.Path, auth)
			}
		}
		authorizerIDs, authorizers := s.tmpl.ofType("AWS::ApiGatewayV2::Authorizer")
		if s.props.AnalystAuth != stack.AnalystAuthIAM {
			if len(authorizers) != 1 {
				t.Fatalf("%d authorizers, want one JWT authorizer shared by the analyst routes", len(authorizers))
			}
			a := authorizers[0].Properties
			var aud []string
			for _, x := range asList(dig(a, "JwtConfiguration", "Audience")) {
				aud = append(aud, fmt.Sprint(x))
			}
			if a["AuthorizerType"] != "JWT" {
				t.Errorf("authorizer %v, want JWT", a)
			}
			if s.props.AnalystAuth == stack.AnalystAuthJWT && (dig(a, "JwtConfiguration", "Issuer") != s.props.JWTIssuer ||
				!reflect.DeepEqual(aud, s.props.JWTAudience)) {
				t.Errorf("JWT authorizer %v, want issuer %s and audience %v", a, s.props.JWTIssuer, s.props.JWTAudience)
			}
			if s.props.AnalystAuth == stack.AnalystAuthCognito {
				// The user pool's issuer, the console client as audience;
				// an analyst and an operator group; no self sign-up, MFA.
				clientIDs, _ := s.tmpl.ofType("AWS::Cognito::UserPoolClient")
				poolIDs, pools := s.tmpl.ofType("AWS::Cognito::UserPool")
				if len(pools) != 1 || len(clientIDs) != 1 || !strings.Contains(fmt.Sprint(dig(a, "JwtConfiguration", "Issuer")), poolIDs[0]) ||
					len(aud) != 1 || !strings.Contains(aud[0], clientIDs[0]) {
					t.Errorf("user pool authorizer %v for pools %v and clients %v", a, poolIDs, clientIDs)
				}
				p := pools[0].Properties
				if dig(p, "AdminCreateUserConfig", "AllowAdminCreateUserOnly") != true || p["MfaConfiguration"] != "ON" {
					t.Errorf("user pool allows sign-up or lacks MFA: %v", p)
				}
				_, groups := s.tmpl.ofType("AWS::Cognito::UserPoolGroup")
				var names []string
				for _, g := range groups {
					names = append(names, fmt.Sprint(g.Properties["GroupName"]))
				}
				sort.Strings(names)
				if !reflect.DeepEqual(names, []string{"analyst", "operator"}) {
					t.Errorf("user pool groups %v, want analyst and operator", names)
				}
			}
			for _, want := range topology.Routes {
				r := byKey[want.Method+" "+want.Path]
				if got := refs(r.Properties["AuthorizerId"])[authorizerIDs[0]]; got != (want.Auth == topology.Analyst) {
					t.Errorf("%s %s: uses the JWT authorizer = %v", want.Method, want.Path, got)
				}
			}
		} else if len(authorizers) != 0 {
			t.Errorf("%d authorizer resources with IAM auth, want none", len(authorizers))
		}
		_, apis := s.tmpl.ofType("AWS::ApiGatewayV2::Api")
		if len(apis) != 1 || apis[0].Properties["CorsConfiguration"] != nil {
			t.Errorf("want one API without CORS, got %v", apis)
		}
		domainIDs, domains := s.tmpl.ofType("AWS::ApiGatewayV2::DomainName")
		_, mappings := s.tmpl.ofType("AWS::ApiGatewayV2::ApiMapping")
		if s.props.DomainName == "" {
			if len(domains)+len(mappings) != 0 {
				t.Errorf("custom domain resources without a domainName: %v %v", domains, mappings)
			}
		} else {
			if len(domains) != 1 || len(mappings) != 1 {
				t.Fatalf("%d domain names and %d mappings, want 1 each", len(domains), len(mappings))
			}
			d := domains[0].Properties
			cfg := dig(d, "DomainNameConfigurations", 0)
			if d["DomainName"] != s.props.DomainName || dig(cfg, "CertificateArn") != s.props.CertificateArn ||
				dig(cfg, "EndpointType") != "REGIONAL" || dig(cfg, "SecurityPolicy") != "TLS_1_2" {
				t.Errorf("domain name %v", d)
			}
			if !refs(mappings[0].Properties["DomainName"])[domainIDs[0]] || mappings[0].Properties["Stage"] == nil {
				t.Errorf("API mapping %v does not map the stage onto the domain", mappings[0].Properties)
			}
		}
		_, apiStages := s.tmpl.ofType("AWS::ApiGatewayV2::Stage")
		if len(apiStages) != 1 {
			t.Fatalf("%d API stages, want 1", len(apiStages))
		}
		st := apiStages[0].Properties
		if st["StageName"] != "$default" || dig(st, "AccessLogSettings", "DestinationArn") == nil ||
			dig(st, "DefaultRouteSettings", "ThrottlingRateLimit") == nil || dig(st, "DefaultRouteSettings", "ThrottlingBurstLimit") == nil {
			t.Errorf("API stage lacks $default name, access logs or throttling: %v", st)
		}
	})
}

func TestSecretsAndOutputs(t *testing.T) {
	forEachStage(t, func(t *testing.T, s *synthesized) {
		_, secrets := s.tmpl.ofType("AWS::SecretsManager::Secret")
		names := map[string]bool{}
		for _, sec := range secrets {
			names[fmt.Sprint(sec.Properties["Name"])] = true
		}
		prefix := "ocx/" + s.stage + "/"
		for _, want := range []string{prefix + topology.SecretChannelPrefix + "app", prefix + topology.SecretSlackPrefix + "cx-support"} {
			if !names[want] {
				t.Errorf("no secret %s in %v", want, names)
			}
		}
		outputs := map[string]bool{"ApiUrl": true, "WebhookUrlApp": true, "AlarmTopicArn": true, "ConsoleUrl": true,
			"AnalystPolicyArn":   s.props.AnalystAuth == stack.AnalystAuthIAM,
			"OperatorPolicyArn":  s.props.AnalystAuth == stack.AnalystAuthIAM,
			"ConsoleUserPoolId":  s.props.AnalystAuth == stack.AnalystAuthCognito,
			"ConsoleSignInUrl":   s.props.AnalystAuth == stack.AnalystAuthCognito,
			"CustomDomainUrl":    s.props.DomainName != "",
			"CustomDomainTarget": s.props.DomainName != "",
		}
		for out, want := range outputs {
			if _, got := s.tmpl.Outputs[out]; got != want {
				t.Errorf("output %s present = %v, want %v", out, got, want)
			}
		}
		for _, ch := range shippedChannels(t) {
			hook, _ := json.Marshal(s.tmpl.Outputs["WebhookUrl"+pascal(ch)].Value)
			if !strings.Contains(string(hook), "/v1/webhooks/"+ch) {
				t.Errorf("WebhookUrl%s = %s", pascal(ch), hook)
			}
			if s.props.DomainName != "" && !strings.HasPrefix(string(hook), `"https://`+s.props.DomainName+"/") {
				t.Errorf("WebhookUrl%s = %s, want it on the custom domain", pascal(ch), hook)
			}
		}
	})
}

func TestAlarms(t *testing.T) {
	channels := shippedChannels(t)
	forEachStage(t, func(t *testing.T, s *synthesized) {
		alarmIDs, alarms := s.tmpl.ofType("AWS::CloudWatch::Alarm")
		queues, _ := s.tmpl.ofType("AWS::SQS::Queue")
		rules, _ := s.tmpl.ofType("AWS::Events::Rule")
		if len(rules) != len(topology.BusRules)+len(topology.Schedules) {
			t.Fatalf("%d rules, want one per bus rule and schedule", len(rules))
		}
		capped := 0
		for _, fn := range topology.Functions {
			if _, _, reserved, _ := stack.DeployedSize(fn); reserved > 0 {
				capped++
			}
		}
		// The extra alarms are on what notify and outbound gave up
		// delivering, and on outbound endpoints disabled.
		want := 2*len(topology.Functions) + capped + len(queues) + 2 + 3*len(channels) + 2*len(rules) + 3
		if len(alarms) != want {
			t.Errorf("%d alarms, want %d (errors and throttles per function, event age per capped function, one per queue, "+
				"API 5xx and 4xx, failed publishes, quarantined items and raw stream freshness per channel, failed and undeadlettered invocations per rule, "+
				"undeliverable notifications and webhooks, disabled webhook endpoints)",
				len(alarms), want)
		}
		topics, _ := s.tmpl.ofType("AWS::SNS::Topic")
		if len(topics) != 1 {
			t.Fatalf("%d topics, want 1", len(topics))
		}
		if s.tmpl.Resources[topics[0]].Properties["KmsMasterKeyId"] == nil {
			t.Error("alarm topic not encrypted")
		}
		metrics := map[string]int{}
		for i, a := range alarms {
			p := a.Properties
			metrics[fmt.Sprint(p["MetricName"])]++
			if !refs(p["AlarmActions"])[topics[0]] || !refs(p["OKActions"])[topics[0]] {
				t.Errorf("alarm %s does not notify the topic when it fires and clears", alarmIDs[i])
			}
			if p["TreatMissingData"] != "notBreaching" {
				t.Errorf("alarm %s: missing data %v, want notBreaching", alarmIDs[i], p["TreatMissingData"])
			}
		}
		for _, m := range []string{"Errors", "Throttles", "ApproximateNumberOfMessagesVisible", "5xx",
			"FailedInvocations", "InvocationsFailedToBeSentToDlq"} {
			if metrics[m] == 0 {
				t.Errorf("no alarm on %s (have %v)", m, metrics)
			}
		}

		// Per channel: the ingest function's EMF metrics.
		for _, ch := range channels {
			for _, m := range []string{"PutEventsFailed", "QuarantinedItems"} {
				found := 0
				for _, a := range alarms {
					p := a.Properties
					if p["Namespace"] == "OCX" && p["MetricName"] == m &&
						reflect.DeepEqual(p["Dimensions"], []any{map[string]any{"Name": "channel", "Value": ch}}) {
						found++
						if p["Threshold"] != 0.0 || p["Statistic"] != "Sum" {
							t.Errorf("%s alarm for %s: threshold %v, statistic %v, want any Sum above 0", m, ch, p["Threshold"], p["Statistic"])
						}
					}
				}
				if found != 1 {
					t.Errorf("channel %s: %d alarms on %s, want 1", ch, found, m)
				}
			}
		}

		// Per rule: EventBridge's delivery failures, with the dimensions
		// the metrics carry (custom bus rules also name the bus).
		for _, rule := range rules {
			onBus := s.tmpl.Resources[rule].Properties["EventBusName"] != nil
			for _, m := range []string{"FailedInvocations", "InvocationsFailedToBeSentToDlq"} {
				found := 0
				for _, a := range alarms {
					p := a.Properties
					if p["Namespace"] != "AWS/Events" || p["MetricName"] != m {
						continue
					}
					dims := map[string]any{}
					for _, d := range asList(p["Dimensions"]) {
						dims[fmt.Sprint(dig(d, "Name"))] = dig(d, "Value")
					}
					if refs(dims["RuleName"])[rule] {
						found++
						if _, ok := dims["EventBusName"]; ok != onBus {
							t.Errorf("rule %s: %s alarm has EventBusName = %v, want %v", rule, m, ok, onBus)
						}
					}
				}
				if found != 1 {
					t.Errorf("rule %s: %d alarms on %s, want 1", rule, found, m)
				}
			}
		}

		// The 4xx alarm is a rate over a minimum volume, not "any 4xx".
		var spike []cfnResource
		for _, a := range alarms {
			for _, q := range asList(a.Properties["Metrics"]) {
				if dig(q, "MetricStat", "Metric", "MetricName") == "4xx" {
					spike = append(spike, a)
				}
			}
		}
		if len(spike) != 1 {
			t.Fatalf("%d alarms on the API's 4xx, want 1", len(spike))
		}
		p := spike[0].Properties
		if th, _ := p["Threshold"].(float64); th <= 0 || th >= 100 {
			t.Errorf("4xx alarm threshold %v, want a percentage", p["Threshold"])
		}
		if ev, _ := p["EvaluationPeriods"].(float64); ev < 2 {
			t.Errorf("4xx alarm evaluates %v periods, want a sustained spike", p["EvaluationPeriods"])
		}
		expr := ""
		for _, q := range asList(p["Metrics"]) {
			if e, ok := dig(q, "Expression").(string); ok {
				expr = e
			}
		}
		if !strings.Contains(expr, "IF(requests >=") {
			t.Errorf("4xx alarm expression %q: want a rate guarded by a minimum request count", expr)
		}

		// A function whose concurrency is capped on purpose alarms on
		// lasting throttling and on events waiting long in its queue.
		for _, fn := range topology.Functions {
			_, _, reserved, _ := stack.DeployedSize(fn)
			f, _ := s.function(fn.Name)
			aged := 0
			for i, a := range alarms {
				p := a.Properties
				if !refs(p["Dimensions"])[f.id] {
					continue
				}
				switch p["MetricName"] {
				case "Throttles":
					ev, _ := p["EvaluationPeriods"].(float64)
					if reserved > 0 && ev < 2 || reserved == 0 && ev != 1 {
						t.Errorf("%s (reserved %d): throttle alarm %s evaluates %v periods", fn.Name, reserved, alarmIDs[i], ev)
					}
				case "AsyncEventAge":
					aged++
					if p["Statistic"] != "Maximum" || p["Threshold"].(float64) < 60_000 {
						t.Errorf("%s: event age alarm %s: %v of %v ms", fn.Name, alarmIDs[i], p["Statistic"], p["Threshold"])
					}
				}
			}
			if wantAged := map[bool]int{true: 1, false: 0}[reserved > 0]; aged != wantAged {
				t.Errorf("%s (reserved %d): %d event age alarms, want %d", fn.Name, reserved, aged, wantAged)
			}
		}
	})
}

func TestCdkNagFindsNothingUnsuppressed(t *testing.T) {
	forEachStage(t, func(t *testing.T, s *synthesized) {
		for _, e := range s.errors {
			t.Errorf("cdk-nag error: %s", e)
		}
		for _, w := range s.warnings {
			t.Errorf("cdk-nag warning: %s", w)
		}
	})
}

// TestCfnLint validates the synthesized templates the way CloudFormation
// will. cfn-lint's exit code is a bitmask: 2 errors, 4 warnings,
// 8 informational; 1 means it could not run.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatalf("cfn-lint is required to validate the templates and is not on PATH (pip install cfn-lint): %v", err)
	}
	forEachStage(t, func(t *testing.T, s *synthesized) {
		out, err := exec.Command(bin, "--", s.file).CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit) && exit.ExitCode()&^(4|8) == 0:
			t.Logf("cfn-lint warnings (allowed):\n%s", out)
		default:
			t.Fatalf("cfn-lint %s: %v\n%s", s.file, err, out)
		}
	})
}

type function struct {
	cfnResource
	id, name string
}

func (s *synthesized) function(name string) (function, bool) {
	ids, fns := s.tmpl.ofType("AWS::Lambda::Function")
	for i, fn := range fns {
		if fn.Properties["FunctionName"] == "ocx-"+s.stage+"-"+name {
			return function{cfnResource: fn, id: ids[i], name: name}, true
		}
	}
	return function{}, false
}

func (f function) env() map[string]any {
	env, _ := dig(f.Properties, "Environment", "Variables").(map[string]any)
	return env
}

// table finds a table by the ocx:table tag the stack puts on it.
func (s *synthesized) table(name string) (cfnResource, bool) {
	_, tables := s.tmpl.ofType("AWS::DynamoDB::GlobalTable")
	for _, tbl := range tables {
		for _, tag := range asList(dig(tbl.Properties, "Replicas", 0, "Tags")) {
			if dig(tag, "Key") == "ocx:table" && dig(tag, "Value") == name {
				return tbl, true
			}
		}
	}
	return cfnResource{}, false
}

// roleStatements are the statements of every policy attached to role.
func (s *synthesized) roleStatements(role string) []any {
	var out []any
	for _, r := range s.tmpl.Resources {
		if (r.Type == "AWS::IAM::Policy" || r.Type == "AWS::IAM::ManagedPolicy") && refs(r.Properties["Roles"])[role] {
			out = append(out, asList(dig(r.Properties, "PolicyDocument", "Statement"))...)
		}
	}
	for _, p := range asList(s.tmpl.Resources[role].Properties["Policies"]) {
		out = append(out, asList(dig(p, "PolicyDocument", "Statement"))...)
	}
	return out
}

// targets reports whether any of the rule's targets is the resource id (a
// function or a queue).
func targets(rule cfnResource, id string) bool {
	for _, tg := range asList(rule.Properties["Targets"]) {
		if refs(dig(tg, "Arn"))[id] {
			return true
		}
	}
	return false
}

// refs collects the logical ids v refers to through Ref or Fn::GetAtt.
func refs(v any) map[string]bool {
	out := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if id, ok := v["Ref"].(string); ok {
				out[id] = true
			}
			if att, ok := v["Fn::GetAtt"].([]any); ok && len(att) > 0 {
				if id, ok := att[0].(string); ok {
					out[id] = true
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return out
}

func actions(statement any) []string {
	switch a := dig(statement, "Action").(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

// keys lists the attribute names of a KeySchema in order.
func keys(schema any) []string {
	var out []string
	for _, k := range asList(schema) {
		out = append(out, fmt.Sprint(dig(k, "AttributeName")))
	}
	return out
}

// dig walks maps by string keys and lists by int indexes, returning nil
// when the path does not exist.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func nonNil(m map[string]bool) map[string]bool {
	if m == nil {
		return map[string]bool{}
	}
	return m
}

func pascal(s string) string { return stack.Pascal(s) }

// shippedChannels are the channel ids in the shipped channels.yaml, read
// independently of the stack.
func shippedChannels(t *testing.T) []string {
	t.Helper()
	raw, err := fs.ReadFile(config.Shipped, "channels.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Channels []struct {
			ID string `yaml:"id"`
		} `yaml:"channels"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ch := range file.Channels {
		ids = append(ids, ch.ID)
	}
	if len(ids) == 0 {
		t.Fatal("no channels in the shipped channels.yaml")
	}
	return ids
}
