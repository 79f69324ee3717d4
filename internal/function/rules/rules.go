// Package rules wires the rules function: failure rules evaluated on bus
// events, their deadlines woken from its wake-up queue.
package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/dynamo/failurestore"
	"github.com/ocxhq/ocx/internal/dynamo/identitystore"
	"github.com/ocxhq/ocx/internal/dynamo/loopstore"
	"github.com/ocxhq/ocx/internal/dynamo/rulestore"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/loop"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/team"
	"github.com/ocxhq/ocx/internal/topology"
	"github.com/ocxhq/ocx/internal/wakequeue"
)

// The rules read who owns a key from the journey function's links.
var _ rules.Customers = (*identitystore.Owners)(nil)

// Build is the rules function's Lambda handler.
var Build = function.Consuming(Handler)

// Handler builds the failure-rule handler. It takes bus events in batches
// from its bus queue, the rule-timers schedule's tick directly, and its
// deadlines' wake-ups as SQS batches from its wake-up queue.
func Handler(ctx context.Context, d function.Deps) (function.Consumer, error) {
	var none function.Consumer
	wakeups, err := wakequeue.FromEnv(d.AWS, d.Getenv, d.Now)
	if err != nil {
		return none, err
	}
	failuresTable, err := d.Table(topology.TableFailures)
	if err != nil {
		return none, err
	}
	rulesTable, err := d.Table(topology.TableRules)
	if err != nil {
		return none, err
	}
	customersTable, err := d.Table(topology.TableCustomers)
	if err != nil {
		return none, err
	}
	pub, err := bus.FromEnv(d.AWS, d.Getenv)
	if err != nil {
		return none, err
	}
	teams, err := team.Load(d.ConfigFS(), config.Teams)
	if err != nil {
		return none, err
	}
	rs, err := rules.Load(d.ConfigFS(), config.Rules, teams.IDs())
	if err != nil {
		return none, err
	}
	eng, err := rules.NewEngine(rs)
	if err != nil {
		return none, err
	}
	db := dynamodb.NewFromConfig(d.AWS)
	failures := failurestore.NewFailures(db, failuresTable)
	announcer := &failure.Announcer{Outbox: failurestore.NewOutbox(db, failuresTable), Bus: pub, Log: d.Log}
	svc := &rules.Service{
		Engine:    eng,
		Store:     rulestore.NewRuleState(db, rulesTable, failuresTable),
		Failures:  &failure.Service{Store: failures, Notebook: failurestore.NewNotebook(db, failuresTable), Announcer: announcer, Now: d.Now},
		Announcer: announcer,
		// Who owns an event's keys, read-only: linking is the journey's.
		Customers: identitystore.NewOwners(db, customersTable),
		Wakeups:   wakeups,
		Now:       d.Now,
		Log:       d.Log,
	}
	// The loops' customer side reads the same interactions.
	watcher := &loop.Watcher{
		Service: &loop.Service{Store: loopstore.NewLoops(db, failuresTable), Notes: failureNotes{svc.Failures},
			Bus: pub, Now: d.Now, Log: d.Log.With("component", "loop")},
		Customers: svc.Customers, Resolver: svc.Failures, Log: d.Log.With("component", "loop"),
	}
	each := watchInteractions(watcher, svc.Handle)
	return function.Consumer{Batch: function.Each(each), Tick: each, Wake: function.WakeBatch(wakeups, d.Now, svc.Wake, d.Log)}, nil
}

// watchInteractions lets the loop watcher read each interaction before the
// rules evaluate it; both run, and either's error retries the event (each
// is idempotent).
func watchInteractions(w *loop.Watcher, next function.EventHandler) function.EventHandler {
	return func(ctx context.Context, env events.Envelope) error {
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

// failureNotes writes the loop's notes on the failure's activity.
type failureNotes struct{ svc *failure.Service }

func (n failureNotes) Note(ctx context.Context, failureID, text string, _ time.Time) error {
	_, err := n.svc.Note(ctx, failureID, text, "loop")
	return err
}
