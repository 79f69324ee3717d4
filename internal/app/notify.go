package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dispatch"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/notify/email"
	"github.com/ocxhq/ocx/internal/notify/slack"
	"github.com/ocxhq/ocx/internal/queue"
	"github.com/ocxhq/ocx/internal/topology"
)

// Notify builds the notification handler: failure lifecycle events put
// failures into their groups; a group's wake-up (an SQS batch from its
// wake-up queue) sends it the moment it falls due, on Slack and SES email,
// each exactly once per group, receiver and phase; the notify-flush
// schedule's "Scheduled Event" sweeps up groups whose wake-up was lost.
func Notify(ctx context.Context, d Deps) (Wakeable, error) {
	var none Wakeable
	failures, err := d.table(topology.TableFailures)
	if err != nil {
		return none, err
	}
	v, err := d.require(topology.EnvEmailFrom, topology.EnvDeadLetterQueue)
	if err != nil {
		return none, err
	}
	wakeups, err := d.wakeups()
	if err != nil {
		return none, err
	}
	teams, err := d.Teams()
	if err != nil {
		return none, err
	}
	ids := make([]string, 0, len(teams.All()))
	for _, t := range teams.All() {
		ids = append(ids, t.ID)
	}
	routes, err := dispatch.Load(d.ConfigFS(), dispatch.File, ids)
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
	slackNotifier := slack.New(d.secrets(), &http.Client{Timeout: slack.DefaultTimeout})
	slackNotifier.Naming = naming
	db := d.dynamo()
	svc := &notify.Service{
		Teams:     teams,
		Routes:    routes,
		Groups:    dynamo.NewNotifyGroups(db, failures),
		Silences:  dynamo.NewSilences(db, failures),
		Notifiers: []notify.Notifier{slackNotifier, mail},
		Ledger:    dynamo.NewNotificationLedger(db, failures),
		Dead:      queue.New(sqs.NewFromConfig(d.AWS), v[topology.EnvDeadLetterQueue]),
		Metrics:   emf.New(os.Stdout),
		Now:       d.Now,
		Log:       d.Log,
		Wakeups:   wakeups,
	}
	failureStore := dynamo.NewFailures(db, failures)
	failureSvc := &failure.Service{Store: failureStore, Notebook: failureStore, Now: d.Now}
	svc.Notes = failureNotes{failureSvc}
	// Closing the loop (tickets, follow-up deadlines, outcomes) rides on
	// the same events, wake-ups and retries.
	loops, err := d.notifyLoops(db, failures, svc, failureSvc, wakeups)
	if err != nil {
		return none, err
	}
	onEvent := func(ctx context.Context, env lambdaevents.CloudWatchEvent) error {
		switch env.DetailType {
		case "Scheduled Event":
			// The sweep also brings the loops' instants within wake-up reach.
			return errors.Join(svc.Flush(ctx), loops.Sweep(ctx))
		case events.TypeFailureDetected, events.TypeFailureAcknowledged, events.TypeFailureResolved:
			var f events.Failure
			if err := json.Unmarshal(env.Detail, &f); err != nil {
				return fmt.Errorf("decode %s %s: %w", env.DetailType, env.ID, err)
			}
			return errors.Join(svc.Observe(ctx, env.DetailType, f), loops.Observe(ctx, env.DetailType, f))
		}
		return nil
	}
	return Wakeable{Events: onEvent, Wake: wakeBatch(wakeups, d.Now, wakeLoopOr(loops, svc.Wake), d.Log)}, nil
}
