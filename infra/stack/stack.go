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
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesisfirehose"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
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

// Authorizers the analyst routes can use.
const (
	// AnalystAuthIAM requires SigV4-signed requests from principals holding
	// the stack's analyst policy.
	AnalystAuthIAM = "iam"
	// AnalystAuthJWT requires a bearer token from an OIDC/OAuth 2.0 issuer.
	AnalystAuthJWT = "jwt"
	// AnalystAuthCognito provisions a Cognito user pool with analyst and
	// operator groups; people sign in to the console through its hosted
	// pages.
	AnalystAuthCognito = "cognito"
)

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

	// DomainName and CertificateArn, both or neither, serve the API on a
	// custom domain as well: an ACM certificate in the stack's region
	// covering DomainName. The DNS record is the operator's to create.
	DomainName     string
	CertificateArn string
	// AnalystAuth protects the analyst routes: AnalystAuthIAM (default) or
	// AnalystAuthJWT, which needs JWTIssuer (an https URL serving OIDC
	// discovery) and at least one JWTAudience.
	AnalystAuth string
	JWTIssuer   string
	JWTAudience []string
	// JWTGroupsClaim names the token claim listing the caller's groups
	// (analyst, operator) with AnalystAuthJWT; cognito:groups when empty.
	JWTGroupsClaim string
	// OIDCAuthorizeURL and OIDCTokenURL, both or neither, let the console
	// sign people in with AnalystAuthJWT (authorization code with PKCE,
	// the first JWTAudience as its client id).
	OIDCAuthorizeURL string
	OIDCTokenURL     string
	// OutboundURL is what ${OCX_OUTBOUND_URL} in outbound.yaml stands
	// for; empty leaves such a subscription inactive.
	OutboundURL string
}

// builder carries what the parts of the stack share while they are built.
type builder struct {
	stack     awscdk.Stack
	props     Props
	settings  settings
	tables    map[string]awsdynamodb.TableV2
	functions map[string]awslambda.Function
	alarms    *alarms
	// deadLetters are every dead-letter queue, for the API to list.
	deadLetters []awssqs.Queue
	// channels are the configured channel ids, and rawStreams their raw
	// webhook delivery streams.
	channels   []string
	rawStreams map[string]awskinesisfirehose.CfnDeliveryStream
}

// New builds the OCX stack into scope.
func New(scope constructs.Construct, id string, props Props) (awscdk.Stack, error) {
	if err := validate(&props); err != nil {
		return nil, fmt.Errorf("stack %s: %w", id, err)
	}
	cfg, err := loadConfig(props.Config, props.OutboundURL)
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
		stack:      st,
		props:      props,
		settings:   settingsFor(props.Stage),
		tables:     map[string]awsdynamodb.TableV2{},
		functions:  map[string]awslambda.Function{},
		channels:   cfg.channels,
		rawStreams: map[string]awskinesisfirehose.CfnDeliveryStream{},
	}
	b.alarms = b.newAlarms()
	b.addTables()
	archive := b.addArchiveBucket()
	if err := b.addRawStreams(archive, cfg.channels); err != nil {
		return nil, fmt.Errorf("stack %s: %w", id, err)
	}
	bus := b.addBus()
	for _, fn := range topology.Functions {
		if err := b.addFunction(fn, bus, archive); err != nil {
			return nil, fmt.Errorf("stack %s: %w", id, err)
		}
	}
	if err := b.addRouting(bus, cfg.busRules); err != nil {
		return nil, fmt.Errorf("stack %s: %w", id, err)
	}
	if err := b.addWakeups(); err != nil {
		return nil, fmt.Errorf("stack %s: %w", id, err)
	}
	api, err := b.addAPI()
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", id, err)
	}
	b.addSecrets(cfg)
	if err := b.addOutbound(cfg.outbound); err != nil {
		return nil, fmt.Errorf("stack %s: %w", id, err)
	}
	b.alarms.onChannels(cfg.channels)
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
	if err := validateAPI(p); err != nil {
		return err
	}
	if p.AssetsDir == "" {
		return fmt.Errorf("no assets directory")
	}
	for _, fn := range topology.Functions {
		for _, f := range []string{"bootstrap", topology.ZoneinfoFile} {
			if _, err := os.Stat(filepath.Join(p.AssetsDir, fn.Name, f)); err != nil {
				return fmt.Errorf("function %s: %w (build the functions first, e.g. `make build`)", fn.Name, err)
			}
		}
	}
	return nil
}

// validateAPI checks the custom domain and analyst authorizer options.
func validateAPI(p *Props) error {
	if (p.DomainName == "") != (p.CertificateArn == "") {
		return fmt.Errorf("custom domain: set both domainName and certificateArn, or neither")
	}
	if p.DomainName != "" {
		if !hostname.MatchString(p.DomainName) {
			return fmt.Errorf("domainName %q: want a host name such as api.example.com", p.DomainName)
		}
		if !certificateArn.MatchString(p.CertificateArn) {
			return fmt.Errorf("certificateArn %q: want arn:aws:acm:<region>:<account>:certificate/<id>", p.CertificateArn)
		}
	}
	switch p.AnalystAuth {
	case "":
		p.AnalystAuth = AnalystAuthIAM
		fallthrough
	case AnalystAuthIAM, AnalystAuthCognito:
		if p.JWTIssuer != "" || len(p.JWTAudience) > 0 || p.JWTGroupsClaim != "" || p.OIDCAuthorizeURL != "" || p.OIDCTokenURL != "" {
			return fmt.Errorf("jwtIssuer, jwtAudience, jwtGroupsClaim and the OIDC URLs apply only with analystAuth=%s", AnalystAuthJWT)
		}
	case AnalystAuthJWT:
		if (p.OIDCAuthorizeURL == "") != (p.OIDCTokenURL == "") {
			return fmt.Errorf("analystAuth=jwt: set both oidcAuthorizeUrl and oidcTokenUrl, or neither")
		}
		for _, u := range []string{p.OIDCAuthorizeURL, p.OIDCTokenURL} {
			if u != "" && (!strings.HasPrefix(u, "https://") || len(u) == len("https://")) {
				return fmt.Errorf("analystAuth=jwt: OIDC endpoint %q: want an https URL", u)
			}
		}
		if !strings.HasPrefix(p.JWTIssuer, "https://") || len(p.JWTIssuer) == len("https://") {
			return fmt.Errorf("analystAuth=jwt: jwtIssuer %q: want the issuer's https URL", p.JWTIssuer)
		}
		if len(p.JWTAudience) == 0 {
			return fmt.Errorf("analystAuth=jwt: no jwtAudience")
		}
		for _, aud := range p.JWTAudience {
			if strings.TrimSpace(aud) == "" {
				return fmt.Errorf("analystAuth=jwt: empty jwtAudience entry in %q", p.JWTAudience)
			}
		}
	default:
		return fmt.Errorf("analystAuth %q: want %q, %q or %q", p.AnalystAuth, AnalystAuthIAM, AnalystAuthJWT, AnalystAuthCognito)
	}
	return nil
}

var (
	hostname       = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	certificateArn = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$`)
)

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
