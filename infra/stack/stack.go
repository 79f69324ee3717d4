// Package stack builds the OCX CloudFormation stack. Every function, table,
// bus rule, schedule and route comes from internal/topology, and the channel
// and team secrets from the shipped configuration, so the stack and the local
// stack are built from the same description.
package stack

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/ocxhq/ocx/internal/topology"
)

// Stages the stack can be deployed as.
const (
	StageDev  = "dev"
	StageProd = "prod"
)

// DefaultEmailFrom is the sender address used when none is configured.
const DefaultEmailFrom = "alerts@ocx.example"

// Props configures one deployment of OCX.
type Props struct {
	awscdk.StackProps
	// Stage is StageDev or StageProd; it selects retention and protection.
	Stage string
	// AssetsDir holds one folder per function, each with a `bootstrap` binary.
	AssetsDir string
	// EmailFrom is the sender address of alert mail; its domain (or the
	// address itself) must be a verified SES identity.
	EmailFrom string
	// AlarmEmail, when set, is subscribed to the alarm topic.
	AlarmEmail string
	// Config is the configuration tree (channels.yaml, teams.yaml).
	Config fs.FS
}

// builder carries what the parts of the stack share while they are built.
type builder struct {
	stack     awscdk.Stack
	props     Props
	settings  settings
	tables    map[string]awsdynamodb.TableV2
	functions map[string]awslambda.Function
	alarms    *alarms
}

// New builds the OCX stack into scope.
func New(scope constructs.Construct, id string, props Props) (awscdk.Stack, error) {
	if err := validate(&props); err != nil {
		return nil, fmt.Errorf("stack %s: %w", id, err)
	}
	cfg, err := loadConfig(props.Config)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", id, err)
	}

	sp := props.StackProps
	if sp.Description == nil {
		sp.Description = jsii.String("OCX operational customer experience backend (" + props.Stage + ")")
	}
	st := awscdk.NewStack(scope, jsii.String(id), &sp)
	useFeatureFlags(st)
	awscdk.Tags_Of(st).Add(jsii.String("project"), jsii.String("ocx"), nil)
	awscdk.Tags_Of(st).Add(jsii.String("stage"), jsii.String(props.Stage), nil)

	b := &builder{
		stack:     st,
		props:     props,
		settings:  settingsFor(props.Stage),
		tables:    map[string]awsdynamodb.TableV2{},
		functions: map[string]awslambda.Function{},
	}
	b.alarms = b.newAlarms()
	b.addTables()
	archive := b.addArchiveBucket()
	bus := b.addBus()
	for _, fn := range topology.Functions {
		if err := b.addFunction(fn, bus, archive); err != nil {
			return nil, fmt.Errorf("stack %s: %w", id, err)
		}
	}
	if err := b.addRouting(bus); err != nil {
		return nil, fmt.Errorf("stack %s: %w", id, err)
	}
	api, err := b.addAPI()
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", id, err)
	}
	b.addSecrets(cfg)
	b.addOutputs(api, cfg)
	return st, nil
}

// validate fills defaults and rejects props that would synthesize a broken
// stack, so mistakes surface before CloudFormation sees them.
func validate(p *Props) error {
	if p.Stage == "" {
		p.Stage = StageDev
	}
	if p.Stage != StageDev && p.Stage != StageProd {
		return fmt.Errorf("stage %q: want %q or %q", p.Stage, StageDev, StageProd)
	}
	if p.EmailFrom == "" {
		p.EmailFrom = DefaultEmailFrom
	}
	if _, err := emailDomain(p.EmailFrom); err != nil {
		return err
	}
	if p.Config == nil {
		return fmt.Errorf("no configuration tree")
	}
	if p.AssetsDir == "" {
		return fmt.Errorf("no assets directory")
	}
	for _, fn := range topology.Functions {
		bin := filepath.Join(p.AssetsDir, fn.Name, "bootstrap")
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("function %s: %w (build the functions first, e.g. `make build`)", fn.Name, err)
		}
	}
	return nil
}

// useFeatureFlags pins on the stack itself the CDK feature flags its design
// depends on. cdk.json enables the recommended set for `cdk synth`, but an
// app run without the CDK CLI never reads cdk.json. It must run before any
// construct is added to the stack.
func useFeatureFlags(st awscdk.Stack) {
	for _, flag := range []string{
		// Grant S3 log delivery through a bucket policy instead of ACLs,
		// which new buckets have disabled.
		"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy",
		"@aws-cdk/aws-s3:createDefaultLoggingPolicy",
		// Merge grants into as few policy statements as possible.
		"@aws-cdk/aws-iam:minimizePolicies",
	} {
		st.Node().SetContext(jsii.String(flag), true)
	}
}

// assetPath is the directory holding the named function's bootstrap binary.
func (b *builder) assetPath(name string) string {
	return filepath.Join(b.props.AssetsDir, name)
}

// secretsPrefix is where this stage's secrets live, e.g. "ocx/prod/".
func (b *builder) secretsPrefix() string { return "ocx/" + b.props.Stage + "/" }

// name is a physical resource name unique to this stage, e.g. "ocx-prod-ingest".
func (b *builder) name(s string) string { return "ocx-" + b.props.Stage + "-" + s }
