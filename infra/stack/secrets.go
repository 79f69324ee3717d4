package stack

import (
	"io/fs"

	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ocxhq/ocx/internal/channel"
	_ "github.com/ocxhq/ocx/internal/channel/kinds" // every channel kind channels.yaml may name
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/config/load"
	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/team"
	"github.com/ocxhq/ocx/internal/topology"
)

// configured is the little the stack needs from the configuration tree: which
// secrets exist, and the bus rules. The tree is loaded and validated whole,
// as the functions will load it, so a tree that synthesizes starts every
// function.
type configured struct {
	channels []string // channel ids
	slack    []string // distinct Slack webhook secret names
	outbound []outbound.Subscription
	// busRules route the bus, the outbound function's rule derived from
	// the subscriptions as the local stack derives it.
	busRules []topology.BusRule
}

// loadConfig loads the whole tree; the outbound subscriptions' URL is
// outboundURL where they name ${OCX_OUTBOUND_URL}.
func loadConfig(tree fs.FS, outboundURL string) (configured, error) {
	getenv := func(k string) string {
		if k == topology.EnvOutboundURL {
			return outboundURL
		}
		return ""
	}
	c, err := load.All(config.FS(tree, "configuration"), getenv)
	if err != nil {
		return configured{}, err
	}
	cfg := secretsOf(c.Channels, c.Teams.All())
	cfg.outbound = c.Outbound
	if cfg.busRules, err = topology.BusRulesFor(outbound.Patterns(c.Outbound)); err != nil {
		return configured{}, err
	}
	return cfg, nil
}

// secretsOf lists the channels' secrets and the teams' distinct Slack
// webhook secrets.
func secretsOf(chans []channel.Channel, teams []team.Team) configured {
	var cfg configured
	for _, ch := range chans {
		cfg.channels = append(cfg.channels, ch.ID)
	}
	seen := map[string]bool{}
	for _, t := range teams {
		if t.Slack == "" || seen[t.Slack] {
			continue
		}
		seen[t.Slack] = true
		cfg.slack = append(cfg.slack, t.Slack)
	}
	return cfg
}

// addSecrets creates one secret per channel (its webhook signing secret),
// per team Slack webhook and for the Slack app's signing secret, each
// holding a random placeholder until an operator puts the real value in.
// CloudFormation never overwrites a value once set.
func (b *builder) addSecrets(cfg configured) {
	for _, ch := range cfg.channels {
		b.newSecret("ChannelSecret"+pascal(ch), topology.SecretChannelPrefix+ch,
			"webhook signing secret(s) of channel "+ch+", comma-separated during rotation")
	}
	for _, name := range cfg.slack {
		b.newSecret("SlackWebhook"+pascal(name), topology.SecretSlackPrefix+name,
			"Slack incoming-webhook URL for "+name)
	}
	b.newSecret("SlackSigningSecret", topology.SecretSlackSigning,
		"signing secret(s) of the Slack app whose Acknowledge and Resolve buttons call /v1/slack/actions, comma-separated during rotation")
}

func (b *builder) newSecret(id, name, description string) {
	s := awssecretsmanager.NewSecret(b.stack, jsii.String(id), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String(b.secretsPrefix() + name),
		Description: jsii.String(description + " (placeholder until set by an operator)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(32),
			ExcludePunctuation: jsii.Bool(true),
		},
		RemovalPolicy: b.settings.removal,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(s, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("the value is issued by a third party (the channel's signing secret or Slack's webhook URL) and rotated there"),
	}}, jsii.Bool(true))
}
