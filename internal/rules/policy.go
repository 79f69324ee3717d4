package rules

import "github.com/ocxhq/ocx/internal/loop"

var _ loop.Policies = (*Engine)(nil)

// Policy is what rule id asks of its failures' loops; an unknown rule (one
// removed since its failure) asks nothing beyond the default window.
func (e *Engine) Policy(id string) loop.Policy {
	r, ok := e.byID[id]
	if !ok {
		return loop.Policy{}
	}
	return loop.Policy{Actions: r.Actions, FollowUp: r.FollowUp, RecoveryWindow: r.RecoveryWindow,
		AckReminder: r.AckReminder, AutoResolve: r.AutoResolve}
}
