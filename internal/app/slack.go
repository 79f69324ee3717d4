package app

import (
	"context"
	"net/http"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/slackaction"
	"github.com/ocxhq/ocx/internal/topology"
)

// slackActions builds the handler of Slack's Acknowledge and Resolve
// buttons: the presser's step is stored and announced on the bus the way a
// rule's is, verified with the Slack app's signing secret(s).
func (d Deps) slackActions(failures *dynamo.Failures, groups slackaction.Groups) (http.Handler, error) {
	pub, err := d.publisher()
	if err != nil {
		return nil, err
	}
	announcer := &failure.Announcer{Outbox: failures, Bus: pub, Log: d.Log}
	failuresTable, err := d.table(topology.TableFailures)
	if err != nil {
		return nil, err
	}
	lifecycle := &failure.Service{Store: failures, Notebook: failures, Announcer: announcer, Now: d.Now}
	store := d.secrets()
	return &slackaction.Handler{
		Secrets: func(ctx context.Context) ([]string, error) {
			return store.List(ctx, topology.SecretSlackSigning)
		},
		Groups:   loopGroups{groups},
		Failures: &failure.Service{Store: failures, Announcer: announcer, Now: d.Now},
		Contacts: loopContacts{d.apiLoops(failuresTable, lifecycle)},
		// The budget bounds the whole press; this only stops a stuck
		// connection from holding a request past it.
		Client: &http.Client{Timeout: slackaction.DefaultBudget},
		Now:    d.Now,
		Log:    d.Log.With("component", "slackaction"),
	}, nil
}
