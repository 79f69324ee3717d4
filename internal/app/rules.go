package app

import (
	"context"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/topology"
)

// Rules builds the failure-rule handler. It takes bus events and the
// rule-timers schedule's "Scheduled Event" alike.
func Rules(ctx context.Context, d Deps) (EventHandler, error) {
	failuresTable, err := d.table(topology.TableFailures)
	if err != nil {
		return nil, err
	}
	rulesTable, err := d.table(topology.TableRules)
	if err != nil {
		return nil, err
	}
	customersTable, err := d.table(topology.TableCustomers)
	if err != nil {
		return nil, err
	}
	pub, err := d.publisher()
	if err != nil {
		return nil, err
	}
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
	eng, err := rules.NewEngine(rs)
	if err != nil {
		return nil, err
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
		Now:       d.Now,
		Log:       d.Log,
	}
	return svc.Handle, nil
}
