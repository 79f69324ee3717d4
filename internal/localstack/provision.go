package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/secrets"
	"github.com/ocxhq/ocx/internal/team"
	"github.com/ocxhq/ocx/internal/topology"
)

// Names are the physical resource names of one stage.
type Names struct {
	Stage         string
	Tables        map[string]string
	Bus           string
	Bucket        string
	SecretsPrefix string
	// RawStreams starts the names of the channels' raw-record delivery
	// streams (topology.RawStreamPrefix).
	RawStreams string
}

// Resources names a stage's resources.
func Resources(stage string) Names {
	n := Names{Stage: stage, Tables: map[string]string{}, Bus: "ocx-" + stage, Bucket: "ocx-" + stage + "-archive", SecretsPrefix: "ocx/" + stage + "/",
		RawStreams: topology.RawStreamPrefix(stage)}
	for _, t := range topology.Tables {
		n.Tables[t.Name] = "ocx-" + stage + "-" + t.Name
	}
	return n
}

// Env is the environment the CDK app would give the functions.
func (n Names) Env() map[string]string {
	env := map[string]string{
		topology.EnvStage:         n.Stage,
		topology.EnvBusName:       n.Bus,
		topology.EnvArchiveBucket: n.Bucket,
		topology.EnvSecretsPrefix: n.SecretsPrefix,
		// Every function that reads the archive reads the streams' records.
		topology.EnvRawStreamPrefix: n.RawStreams,
	}
	for logical, physical := range n.Tables {
		env[topology.TableEnv(logical)] = physical
	}
	env[topology.EnvDeadLetterQueues] = strings.Join(n.DeadLetterQueues(), ",")
	return env
}

// DeadLetterQueues names the stage's dead-letter queues of bus events, as
// provision creates them: one per function the bus delivers to, and the
// bus queue's of each function that takes its events in batches.
func (n Names) DeadLetterQueues() []string {
	var out []string
	for _, r := range topology.BusRules {
		if q := "ocx-" + n.Stage + "-" + r.Target + "-dlq"; !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	for _, f := range topology.Functions {
		if f.Bus != nil {
			out = append(out, "ocx-"+n.Stage+"-"+topology.BusQueueName(f.Name)+"-dlq")
		}
	}
	return out
}

// DemoSecrets are a channel's secrets when OCX_SECRET_<ID> is unset: fixed,
// so the README's signed example works on every machine. Never use them in
// AWS. sign is what a sender signs with, verify what the channel checks
// with (they differ for public-key schemes such as SendGrid's).
func DemoSecrets(c channel.Channel) (sign, verify string, ok bool) {
	s, isSigner := c.Kind.(channel.Signer)
	if !isSigner {
		return "", "", false
	}
	sign, verify = s.DemoSecrets("local-" + c.ID)
	return sign, verify, true
}

// Secret is one channel's secrets as the local stack runs it.
type Secret struct {
	// Sign signs requests; empty when OCX_SECRET_<ID> set only the verifying secret.
	Sign string
	// Verify is what the channel checks with (comma-separated for rotation).
	Verify string
}

type provisioned struct {
	channelSecrets map[string]Secret
	dlqs           map[string]string
}

// provision creates what the CDK app deploys. Every step tolerates
// resources that already exist, since restored state has them.
func provision(ctx context.Context, awsCfg aws.Config, n Names, cfg Config, slackURL string) (provisioned, error) {
	p := provisioned{channelSecrets: map[string]Secret{}, dlqs: map[string]string{}}
	if err := dynamo.CreateTables(ctx, dynamodb.NewFromConfig(awsCfg), n.Tables); err != nil {
		return p, err
	}
	eb := eventbridge.NewFromConfig(awsCfg)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(n.Bus)}); err != nil {
		var exists *ebtypes.ResourceAlreadyExistsException
		if !errors.As(err, &exists) {
			return p, fmt.Errorf("create bus %s: %w", n.Bus, err)
		}
	}
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(n.Bucket)}); err != nil {
		var owned *s3types.BucketAlreadyOwnedByYou
		var exists *s3types.BucketAlreadyExists
		if !errors.As(err, &owned) && !errors.As(err, &exists) {
			return p, fmt.Errorf("create bucket %s: %w", n.Bucket, err)
		}
	}
	domain := cfg.EmailFrom[strings.LastIndexByte(cfg.EmailFrom, '@')+1:]
	if _, err := sesv2.NewFromConfig(awsCfg).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(domain)}); err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
		return p, fmt.Errorf("verify email domain %s: %w", domain, err)
	}
	sq := sqs.NewFromConfig(awsCfg)
	for _, r := range topology.BusRules {
		name := "ocx-" + n.Stage + "-" + r.Target + "-dlq"
		out, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			return p, fmt.Errorf("create queue %s: %w", name, err)
		}
		p.dlqs[r.Target] = aws.ToString(out.QueueUrl)
	}
	store := secrets.New(secretsmanager.NewFromConfig(awsCfg), n.SecretsPrefix)
	chans, err := channel.Load(cfg.configFS(), config.Channels)
	if err != nil {
		return p, err
	}
	fh := firehose.NewFromConfig(awsCfg)
	for _, c := range chans {
		if err := provisionRawStream(ctx, fh, n, c.ID); err != nil {
			return p, err
		}
		sec := Secret{Verify: cfg.Secrets[c.ID]}
		if sec.Verify == "" {
			var ok bool
			if sec.Sign, sec.Verify, ok = DemoSecrets(c); !ok {
				return p, fmt.Errorf("channel %s: set %s (its kind has no demo secret)", c.ID, channel.SecretEnv(c.ID))
			}
		} else if first := secrets.Split(sec.Verify); len(first) > 0 {
			if _, ok := c.Kind.(channel.Signer); ok {
				// Shared-secret schemes sign with what they verify with.
				if s, v, _ := DemoSecrets(c); s == v {
					sec.Sign = first[0]
				}
			}
		}
		if err := store.Put(ctx, channel.SecretName(c.ID), sec.Verify); err != nil {
			return p, err
		}
		p.channelSecrets[c.ID] = sec
	}
	signing := cfg.SlackSigningSecret
	if signing == "" {
		signing = DefaultSlackSigningSecret
	}
	if err := store.Put(ctx, topology.SecretSlackSigning, signing); err != nil {
		return p, err
	}
	teams, err := team.Load(cfg.configFS(), config.Teams)
	if err != nil {
		return p, err
	}
	for _, t := range teams.All() {
		if t.Slack == "" {
			continue
		}
		if err := store.Put(ctx, topology.SecretSlackPrefix+t.Slack, slackURL); err != nil {
			return p, err
		}
	}
	return p, nil
}

// provisionRawStream creates a channel's raw-record delivery stream as the
// CDK app does (infra/stack/archive.go): same name, bucket and prefix. The
// emulator writes each PutRecord as one uncompressed object at once, under
// the prefix and the UTC hour, and ignores compression and buffering.
func provisionRawStream(ctx context.Context, fh *firehose.Client, n Names, channel string) error {
	name := n.RawStreams + channel
	_, err := fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String(name),
		DeliveryStreamType: fhtypes.DeliveryStreamTypeDirectPut,
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN:         aws.String("arn:aws:s3:::" + n.Bucket),
			RoleARN:           aws.String("arn:aws:iam::" + Account + ":role/" + name),
			Prefix:            aws.String(topology.RawObjectPrefix(channel)),
			ErrorOutputPrefix: aws.String(topology.RawErrorPrefix(channel)),
			CompressionFormat: fhtypes.CompressionFormatGzip,
			BufferingHints:    &fhtypes.BufferingHints{SizeInMBs: aws.Int32(topology.RawBufferMB), IntervalInSeconds: aws.Int32(topology.RawBufferSeconds)},
		},
	})
	var inUse *fhtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create delivery stream %s: %w", name, err)
	}
	return nil
}

// consoleSlackPath receives Slack posts when no OCX_SLACK_WEBHOOK_URL is set.
const consoleSlackPath = "/_local/slack"

func consoleSlack(log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var msg struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(body, &msg)
		log.Info("slack message (set OCX_SLACK_WEBHOOK_URL to post it to Slack)", "text", msg.Text)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok"))
	}
}
