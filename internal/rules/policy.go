package rules

import (
	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/loop"
)

// loopPolicy is what the rule asks of its failures' loops, as its failures
// carry it; nil when it asks nothing.
func (r *Rule) loopPolicy() *events.LoopPolicy {
	return loop.Policy{Actions: r.Actions, FollowUp: r.FollowUp, RecoveryWindow: r.RecoveryWindow,
		AckReminder: r.AckReminder, AutoResolve: r.AutoResolve}.Event()
}
