package stack

import (
	"fmt"
	"io/fs"
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
	"go.yaml.in/yaml/v3"

	"github.com/ocxhq/ocx/internal/topology"
)

// configured is the little the stack needs from the configuration tree: which
// secrets exist. The functions load and validate the full files themselves.
type configured struct {
	channels []string // channel ids
	slack    []string // distinct Slack webhook secret names
}

type channelsFile struct {
	Channels []struct {
		ID string `yaml:"id"`
	} `yaml:"channels"`
}

type teamsFile struct {
	Teams []struct {
		ID    string `yaml:"id"`
		Slack string `yaml:"slack"`
	} `yaml:"teams"`
}

// secretName is what Secrets Manager accepts in a name segment.
var secretName = regexp.MustCompile(`^[A-Za-z0-9_+=.@-]+$`)

func loadConfig(tree fs.FS) (configured, error) {
	var cfg configured
	var channels channelsFile
	if err := readYAML(tree, "channels.yaml", &channels); err != nil {
		return cfg, err
	}
	for i, ch := range channels.Channels {
		if !secretName.MatchString(ch.ID) {
			return cfg, fmt.Errorf("channels.yaml: channel %d: id %q: want letters, digits and _+=.@-", i+1, ch.ID)
		}
		cfg.channels = append(cfg.channels, ch.ID)
	}
	var teams teamsFile
	if err := readYAML(tree, "teams.yaml", &teams); err != nil {
		return cfg, err
	}
	seen := map[string]bool{}
	for _, t := range teams.Teams {
		if t.Slack == "" || seen[t.Slack] {
			continue
		}
		if !secretName.MatchString(t.Slack) {
			return cfg, fmt.Errorf("teams.yaml: team %s: slack %q: want letters, digits and _+=.@-", t.ID, t.Slack)
		}
		if topology.SecretSlackPrefix+t.Slack == topology.SecretSlackSigning {
			return cfg, fmt.Errorf("teams.yaml: team %s: slack %q is the Slack signing secret's name; pick another", t.ID, t.Slack)
		}
		seen[t.Slack] = true
		cfg.slack = append(cfg.slack, t.Slack)
	}
	return cfg, nil
}

func readYAML(tree fs.FS, name string, v any) error {
	data, err := fs.ReadFile(tree, name)
	if err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return nil
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
