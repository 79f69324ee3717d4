package app

import (
	"context"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/topology"
)

// Rules builds the failure-rule handler. It takes bus events and the
// rule-timers schedule's "Scheduled Event" alike, and its deadlines'
// wake-ups as SQS batches from its wake-up queue.
func Rules(ctx context.Context, d Deps) (Wakeable, error) {
	var none Wakeable
	wakeups, err := d.wakeups()
	if err != nil {
		return none, err
	}
	failuresTable, err := d.table(topology.TableFailures)
	if err != nil {
		return none, err
	}
	rulesTable, err := d.table(topology.TableRules)
	if err != nil {
		return none, err
	}
	customersTable, err := d.table(topology.TableCustomers)
	if err != nil {
		return none, err
	}
	pub, err := d.publisher()
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
	rs, err := rules.Load(d.ConfigFS(), "rules", ids)
	if err != nil {
		return none, err
	}
	eng, err := rules.NewEngine(rs)
	if err != nil {
		return none, err
	}
	db := d.dynamo()
	failures := dynamo.NewFailures(db, failuresTable)
	announcer := &failure.Announcer{Outbox: failures, Bus: pub, Log: d.Log}
	svc := &rules.Service{
		Engine:    eng,
		Store:     dynamo.NewRuleState(db, rulesTable, failuresTable),
		Failures:  &failure.Service{Store: failures, Announcer: announcer, Now: d.Now},
		Announcer: announcer,
		// The read-only identity lookup the rollup counts contacts with;
		// the metrics table is not touched.
		Customers: dynamo.NewTally(db, "", customersTable),
		Wakeups:   wakeups,
		Now:       d.Now,
		Log:       d.Log,
	}
	// The loops' customer side reads the same interactions.
	watcher := d.rulesLoops(db, failuresTable, svc.Customers, svc.Failures)
	return Wakeable{Events: watchInteractions(watcher, svc.Handle), Wake: wakeBatch(wakeups, d.Now, svc.Wake, d.Log)}, nil
}
