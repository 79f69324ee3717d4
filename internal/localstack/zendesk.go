package localstack

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ocxhq/ocx/internal/secrets"
	"github.com/ocxhq/ocx/internal/zendesk"
	"github.com/ocxhq/ocx/internal/zendesk/zendesktest"
)

// Local Zendesk credentials, for the stand-in the stack runs when
// OCX_ZENDESK_URL is unset.
const (
	localZendeskEmail = "ocx@zendesk.local"
	localZendeskToken = "ocx-local-zendesk-token"
)

// provisionZendesk puts the Zendesk secret the notify function reads: the
// account OCX_ZENDESK_URL, OCX_ZENDESK_EMAIL and OCX_ZENDESK_TOKEN name,
// or else a local stand-in of the Tickets API that the stack starts (and
// returns, for tests to look into).
func provisionZendesk(ctx context.Context, awsCfg aws.Config, n Names, cfg Config) (*zendesktest.Server, error) {
	creds := zendesk.Credentials{URL: cfg.ZendeskURL, Email: cfg.ZendeskEmail, Token: cfg.ZendeskToken}
	var stand *zendesktest.Server
	if creds.URL == "" {
		stand = zendesktest.New(localZendeskEmail, localZendeskToken)
		creds = zendesk.Credentials{URL: stand.URL, Email: localZendeskEmail, Token: localZendeskToken}
		cfg.Log.Info("zendesk tickets go to a local stand-in (set OCX_ZENDESK_URL, OCX_ZENDESK_EMAIL and OCX_ZENDESK_TOKEN for a real account)", "url", stand.URL)
	}
	raw, err := json.Marshal(creds)
	if err != nil {
		return nil, fmt.Errorf("encode zendesk credentials: %w", err)
	}
	store := secrets.New(secretsmanager.NewFromConfig(awsCfg), n.SecretsPrefix)
	if err := store.Put(ctx, zendesk.SecretName, string(raw)); err != nil {
		if stand != nil {
			stand.Close()
		}
		return nil, err
	}
	return stand, nil
}
