// Package notify wires the notify function: failures grouped and sent to
// their teams on Slack and email, each group the moment it falls due.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/dispatch"
	"github.com/ocxhq/ocx/internal/dynamo/failurestore"
	"github.com/ocxhq/ocx/internal/dynamo/notifystore"
	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/notify/email"
	"github.com/ocxhq/ocx/internal/notify/slack"
	"github.com/ocxhq/ocx/internal/queue"
	"github.com/ocxhq/ocx/internal/secrets"
	"github.com/ocxhq/ocx/internal/team"
	"github.com/ocxhq/ocx/internal/topology"
	"github.com/ocxhq/ocx/internal/wakequeue"
)

// Environment of alerts.
const (
	// EnvConsoleURL is the console's public URL, which alerts link to.
	EnvConsoleURL = "OCX_CONSOLE_URL"
	// EnvNotifyIdentity says how alerts show a customer's email or phone:
	// show (the default), mask or none.
	EnvNotifyIdentity = "OCX_NOTIFY_IDENTITY"
)

// Build is the notify function's Lambda handler.
var Build = function.WithWakeups(Handler)

// Handler builds the notification handler: failure lifecycle events put
// failures into their groups; a group's wake-up (an SQS batch from its
// wake-up queue) sends it the moment it falls due, on Slack and SES email,
// each exactly once per group, receiver and phase; the notify-flush
// schedule's tick sweeps up groups whose wake-up was lost.
func Handler(ctx context.Context, d function.Deps) (function.Wakeable, error) {
	var none function.Wakeable
	failures, err := d.Table(topology.TableFailures)
	if err != nil {
		return none, err
	}
	v, err := d.Require(topology.EnvEmailFrom, topology.EnvDeadLetterQueue)
	if err != nil {
		return none, err
	}
	wakeups, err := wakequeue.FromEnv(d.AWS, d.Getenv, d.Now)
	if err != nil {
		return none, err
	}
	teams, err := team.Load(d.ConfigFS(), config.Teams)
	if err != nil {
		return none, err
	}
	routes, err := dispatch.Load(d.ConfigFS(), config.Routes, teams.IDs())
	if err != nil {
		return none, err
	}
	mail, err := email.New(sesv2.NewFromConfig(d.AWS), v[topology.EnvEmailFrom])
	if err != nil {
		return none, err
	}
	naming := notify.Naming{ConsoleURL: d.Getenv(EnvConsoleURL), Identity: d.Getenv(EnvNotifyIdentity)}
	if !notify.ValidIdentity(naming.Identity) {
		return none, fmt.Errorf("%s %q: want show, mask or none", EnvNotifyIdentity, naming.Identity)
	}
	mail.Naming = naming
	slackNotifier := slack.New(secrets.FromEnv(d.AWS, d.Getenv), &http.Client{Timeout: slack.DefaultTimeout})
	slackNotifier.Naming = naming
	db := dynamodb.NewFromConfig(d.AWS)
	failureStore := failurestore.NewFailures(db, failures)
	failureSvc := &failure.Service{Store: failureStore, Notebook: failurestore.NewNotebook(db, failures), Now: d.Now}
	svc := &notify.Service{
		Teams:     teams,
		Routes:    routes,
		Groups:    notifystore.NewNotifyGroups(db, failures),
		Silences:  notifystore.NewSilences(db, failures),
		Notifiers: []notify.Notifier{slackNotifier, mail},
		Ledger:    notifystore.NewNotificationLedger(db, failures),
		Dead:      queue.New(sqs.NewFromConfig(d.AWS), v[topology.EnvDeadLetterQueue]),
		Metrics:   emf.New(os.Stdout),
		Now:       d.Now,
		Log:       d.Log,
		Wakeups:   wakeups,
		Notes:     failureNotes{failureSvc},
	}
	// Closing the loop (tickets, follow-up deadlines, outcomes) rides on
	// the same events, wake-ups and retries.
	loops, err := loops(d, db, failures, svc, failureSvc, wakeups)
	if err != nil {
		return none, err
	}
	onEvent := func(ctx context.Context, env events.Envelope) error {
		if env.IsTick() {
			// The sweep also brings the loops' instants within wake-up reach.
			return errors.Join(svc.Flush(ctx), loops.Sweep(ctx))
		}
		switch env.DetailType {
		case events.TypeFailureDetected, events.TypeFailureAcknowledged, events.TypeFailureResolved:
			var f events.Failure
			if err := json.Unmarshal(env.Detail, &f); err != nil {
				return fmt.Errorf("decode %s %s: %w", env.DetailType, env.ID, err)
			}
			return errors.Join(svc.Observe(ctx, env.DetailType, f), loops.Observe(ctx, env.DetailType, f))
		}
		return nil
	}
	return function.Wakeable{Events: onEvent, Wake: function.WakeBatch(wakeups, d.Now, wakeLoopOr(loops, svc.Wake), d.Log)}, nil
}

// failureNotes writes notify's notes (an undeliverable notification) on
// the failure's activity, as "notify".
type failureNotes struct{ svc *failure.Service }

var _ notify.FailureNotes = failureNotes{}

func (n failureNotes) Note(ctx context.Context, failureID, text string, _ time.Time) error {
	_, err := n.svc.Note(ctx, failureID, text, "notify")
	return err
}
