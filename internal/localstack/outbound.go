package localstack

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	swlib "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/secrets"
	"github.com/ocxhq/ocx/internal/topology"
)

// consoleOutboundPath receives outbound webhooks when no OCX_OUTBOUND_URL
// is set, and prints them.
const consoleOutboundPath = "/_local/outbound"

// DemoOutboundSecret signs outbound webhooks when OCX_OUTBOUND_SECRET is
// unset: fixed, so a receiver set up once keeps verifying. Never use it
// in AWS.
func DemoOutboundSecret() string {
	key := sha256.Sum256([]byte("ocx-local-outbound-webhooks"))
	return outbound.EncodeSecret(key[:24])
}

// provisionOutbound puts the outbound signing secret(s) under every
// subscription's secret name, as an operator does in AWS, and returns
// them.
func provisionOutbound(ctx context.Context, awsCfg aws.Config, n Names, cfg Config) (string, error) {
	secret := cfg.OutboundSecret
	if secret == "" {
		secret = DemoOutboundSecret()
		cfg.Log.Info("outbound webhooks are signed with the demo secret (set OCX_OUTBOUND_SECRET to use your own)", "secret", secret)
	}
	for _, s := range secrets.Split(secret) {
		if _, err := outbound.DecodeSecret(s); err != nil {
			return "", fmt.Errorf("OCX_OUTBOUND_SECRET: %w", err)
		}
	}
	subs, err := outbound.Load(cfg.configFS(), outbound.File, func(string) string { return "" })
	if err != nil {
		return "", err
	}
	store := secrets.New(secretsmanager.NewFromConfig(awsCfg), n.SecretsPrefix)
	for _, s := range subs {
		if err := store.Put(ctx, outbound.SecretPrefix+s.Secret, secret); err != nil {
			return "", err
		}
	}
	return secret, nil
}

// busRules are the bus rules as the CDK app builds them, from the same
// configuration: the outbound function's rule hands it only the events a
// subscription matches, and the replay commands.
func busRules(cfg Config) ([]topology.BusRule, error) {
	subs, err := outbound.Load(cfg.configFS(), outbound.File, func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	return topology.BusRulesFor(outbound.Patterns(subs))
}

// consoleOutbound prints each outbound webhook it receives, with whether
// the standard-webhooks library verifies its signature. The payload
// itself is not printed: it may name a customer.
func consoleOutbound(secret string, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var p struct {
			outbound.Payload
			Data struct {
				ID   string `json:"id"`
				Rule string `json:"rule"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &p)
		verified := false
		for _, s := range secrets.Split(secret) {
			// The stack's clock may not be the wall clock the library
			// checks timestamps against.
			if wh, err := swlib.NewWebhook(s); err == nil && wh.VerifyIgnoringTimestamp(body, r.Header) == nil {
				verified = true
			}
		}
		log.Info("outbound webhook (set OCX_OUTBOUND_URL to send it to your endpoint)", "webhook_id", r.Header.Get(outbound.HeaderID),
			"type", p.Type, "event_id", p.ID, "subject", p.Data.ID, "rule", p.Data.Rule, "signature_verified", verified, "bytes", len(body))
		w.WriteHeader(http.StatusNoContent)
	}
}
