package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dispatch"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/labels"
	"github.com/ocxhq/ocx/internal/loop"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/slackaction"
	"github.com/ocxhq/ocx/internal/wakeup"
	"github.com/ocxhq/ocx/internal/zendesk"
)

// EnvZendeskURL, when set, replaces the url in the Zendesk secret: a
// sandbox account, or the local stack's stand-in.
const EnvZendeskURL = "OCX_ZENDESK_URL"

// rulePolicies loads the rules for what they ask of failures' loops.
func (d Deps) rulePolicies() (*rules.Engine, error) {
	teams, err := d.Teams()
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(teams.All()))
	for _, t := range teams.All() {
		ids = append(ids, t.ID)
	}
	rs, err := rules.Load(d.ConfigFS(), "rules", ids)
	if err != nil {
		return nil, err
	}
	return rules.NewEngine(rs)
}

// notifyLoops builds the failure side of the closed loop for the notify
// function: tickets through Zendesk (credentials from Secrets Manager),
// follow-up escalations through the notify service, wake-ups on the
// function's own queue.
func (d Deps) notifyLoops(db *dynamodb.Client, failuresTable string, svc *notify.Service, failures *failure.Service, wakeups wakeup.Scheduler) (*loop.Service, error) {
	pol, err := d.rulePolicies()
	if err != nil {
		return nil, err
	}
	pub, err := d.publisher()
	if err != nil {
		return nil, err
	}
	client := &zendesk.Client{Secrets: d.secrets(), HTTP: &http.Client{Timeout: zendesk.DefaultTimeout},
		BaseURL: d.Getenv(EnvZendeskURL), Now: d.Now}
	// Auto-resolution announces failure.resolved like any other step.
	resolver := &failure.Service{Store: failures.Store, Notebook: failures.Notebook, Now: d.Now,
		Announcer: &failure.Announcer{Outbox: dynamo.NewFailures(db, failuresTable), Bus: pub, Log: d.Log}}
	return &loop.Service{
		Store: dynamo.NewLoops(db, failuresTable), Policies: pol, Helpdesk: zendesk.Helpdesk{Client: client},
		Escalator: svc, Reminder: svc, Resolver: resolver, Failures: failures.Store, Notes: failureNotes{failures},
		Routes: routeActions{svc.Routes}, Bus: pub, Wakeups: wakeups, Now: d.Now, Log: d.Log.With("component", "loop"),
	}, nil
}

// wakeLoopOr hands a loop's wake-up to the loop and any other to next.
func wakeLoopOr(loops *loop.Service, next wakeup.Func) wakeup.Func {
	return func(ctx context.Context, key string) error {
		if strings.HasPrefix(key, loop.WakePrefix) {
			return loops.Wake(ctx, key)
		}
		return next(ctx, key)
	}
}

// rulesLoops builds the customer side of the closed loop for the rules
// function, which sees every interaction.
func (d Deps) rulesLoops(db *dynamodb.Client, failuresTable string, customers loop.Customers, failures *failure.Service) *loop.Watcher {
	svc := &loop.Service{Store: dynamo.NewLoops(db, failuresTable), Notes: failureNotes{failures}, Bus: failures.Announcer.Bus,
		Now: d.Now, Log: d.Log.With("component", "loop")}
	return &loop.Watcher{Service: svc, Customers: customers, Resolver: failures, Log: svc.Log}
}

// watchInteractions lets the loop watcher read each interaction before the
// rules evaluate it; both run, and either's error retries the event (each
// is idempotent).
func watchInteractions(w *loop.Watcher, next EventHandler) EventHandler {
	return func(ctx context.Context, env lambdaevents.CloudWatchEvent) error {
		var werr error
		if env.Source == events.SourceIngest {
			var in events.Interaction
			if err := json.Unmarshal(env.Detail, &in); err != nil {
				werr = fmt.Errorf("decode interaction %s for the loops: %w", env.ID, err)
			} else {
				werr = w.Observe(ctx, in)
			}
		}
		return errors.Join(werr, next(ctx, env))
	}
}

// loopRoutes serves a failure's loop and the "contacted" action on the
// analysts' API.
func (d Deps) loopRoutes(mux *http.ServeMux, failuresTable string, failures *failure.Service, guard httpauth.Guard) {
	loop.Routes(mux, d.apiLoops(failuresTable, failures), guard, d.Log)
}

// apiLoops is the loop service the API function records contacts with.
func (d Deps) apiLoops(failuresTable string, failures *failure.Service) *loop.Service {
	return &loop.Service{Store: dynamo.NewLoops(d.dynamo(), failuresTable), Notes: failureNotes{failures},
		Bus: failures.Announcer.Bus, Now: d.Now, Log: d.Log.With("component", "loop")}
}

// loopGroups lets Slack's buttons on a one-failure message (a missed
// follow-up, a reminder) act on that failure; other keys are groups.
type loopGroups struct{ slackaction.Groups }

func (g loopGroups) Members(ctx context.Context, key string) ([]string, error) {
	if id, ok := notify.FailureOfGroupKey(key); ok {
		return []string{id}, nil
	}
	return g.Groups.Members(ctx, key)
}

// loopContacts records Slack's Contacted presses on the failures' loops.
type loopContacts struct{ svc *loop.Service }

func (c loopContacts) Contacted(ctx context.Context, failureID, by string) error {
	_, err := c.svc.Contacted(ctx, failureID, by)
	if errors.Is(err, loop.ErrNotFound) {
		return nil
	}
	return err
}

// routeActions reads the routes' actions for a failure by its labels.
type routeActions struct{ routes dispatch.Config }

func (r routeActions) Actions(f events.Failure) []string { return r.routes.Actions(labels.Of(f)) }
