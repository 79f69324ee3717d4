package notify

import (
	"context"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/dispatch"
	"github.com/ocxhq/ocx/internal/dynamo/failurestore"
	"github.com/ocxhq/ocx/internal/dynamo/loopstore"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/labels"
	"github.com/ocxhq/ocx/internal/loop"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/secrets"
	"github.com/ocxhq/ocx/internal/wakeup"
	"github.com/ocxhq/ocx/internal/zendesk"
)

// EnvZendeskURL, when set, replaces the url in the Zendesk secret: a
// sandbox account, or the local stack's stand-in.
const EnvZendeskURL = "OCX_ZENDESK_URL"

// loops builds the failure side of the closed loop: tickets through
// Zendesk (credentials from Secrets Manager), follow-up escalations and
// reminders through the notify service, wake-ups on the function's own
// queue. What a failure's loop asks for travels on the failure, as its
// rule asked when it raised it, so notify reads no rules.
func loops(d function.Deps, db *dynamodb.Client, failuresTable string, svc *notify.Service, failures *failure.Service, wakeups wakeup.Scheduler) (*loop.Service, error) {
	pub, err := bus.FromEnv(d.AWS, d.Getenv)
	if err != nil {
		return nil, err
	}
	client := &zendesk.Client{Secrets: secrets.FromEnv(d.AWS, d.Getenv), HTTP: &http.Client{Timeout: zendesk.DefaultTimeout},
		BaseURL: d.Getenv(EnvZendeskURL), Now: d.Now}
	// Auto-resolution announces failure.resolved like any other step.
	resolver := &failure.Service{Store: failures.Store, Notebook: failures.Notebook, Now: d.Now,
		Announcer: &failure.Announcer{Outbox: failurestore.NewOutbox(db, failuresTable), Bus: pub, Log: d.Log}}
	return &loop.Service{
		Store: loopstore.NewLoops(db, failuresTable), Helpdesk: zendesk.Helpdesk{Client: client},
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

// routeActions reads the routes' actions for a failure by its labels.
type routeActions struct{ routes dispatch.Config }

func (r routeActions) Actions(f events.Failure) []string { return r.routes.Actions(labels.Of(f)) }
