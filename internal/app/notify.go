package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/notify/email"
	"github.com/ocxhq/ocx/internal/notify/slack"
	"github.com/ocxhq/ocx/internal/topology"
)

// Notify builds the failure delivery handler: Slack and SES email per
// owning team, each exactly once per failure.
func Notify(ctx context.Context, d Deps) (EventHandler, error) {
	failures, err := d.table(topology.TableFailures)
	if err != nil {
		return nil, err
	}
	v, err := d.require(topology.EnvEmailFrom)
	if err != nil {
		return nil, err
	}
	teams, err := d.Teams()
	if err != nil {
		return nil, err
	}
	mail, err := email.New(sesv2.NewFromConfig(d.AWS), v[topology.EnvEmailFrom])
	if err != nil {
		return nil, err
	}
	svc := &notify.Service{
		Teams:     teams,
		Notifiers: []notify.Notifier{slack.New(d.secrets(), &http.Client{Timeout: 10 * time.Second}), mail},
		Ledger:    dynamo.NewNotificationLedger(d.dynamo(), failures),
		Now:       d.Now,
		Log:       d.Log,
	}
	return func(ctx context.Context, env lambdaevents.CloudWatchEvent) error {
		if env.DetailType != events.TypeFailureDetected {
			return nil
		}
		var f events.Failure
		if err := json.Unmarshal(env.Detail, &f); err != nil {
			return fmt.Errorf("decode failure %s: %w", env.ID, err)
		}
		return svc.Deliver(ctx, f)
	}, nil
}
