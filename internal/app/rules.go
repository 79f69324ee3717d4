package app

import (
	"context"

	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/topology"
)

// Rules builds the failure-rule handler.
func Rules(ctx context.Context, d Deps) (EventHandler, error) {
	failures, err := d.table(topology.TableFailures)
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
	svc := &rules.Service{Engine: eng, Store: dynamo.NewFailures(d.dynamo(), failures), Bus: pub, Now: d.Now, Log: d.Log}
	return svc.Handle, nil
}
