package rules

import (
	"context"
	"fmt"
	"strings"

	"github.com/ocxhq/ocx/internal/identity"
)

// Customers resolves identity keys to the customer the journey function
// links them to, without writing: linking is the journey function's job.
// For keys no one has linked yet it answers the id the journey function
// gives a new customer of the strongest key.
type Customers interface {
	CustomerOf(ctx context.Context, keys []identity.Key) (string, error)
}

// customerIDPath is the path of the resolved customer id in an event.
const customerIDPath = "detail.customer_id"

// keysOnCustomer reports whether the rule's key reads the resolved
// customer id (the default key does).
func (r *Rule) keysOnCustomer() bool {
	for _, alt := range r.Key {
		for _, p := range strings.Split(alt, "+") {
			if strings.TrimSpace(p) == customerIDPath {
				return true
			}
		}
	}
	return false
}

// resolveCustomer gives an interaction that a per-customer rule matched the
// customer id its identity fields resolve to, so that one person writing by
// email and calling from a phone is one key once anything linked the two.
// Journey events already carry it.
func (s *Service) resolveCustomer(ctx context.Context, ev *Event, hits []Hit) error {
	detail, _ := ev.doc["detail"].(map[string]any)
	if s.Customers == nil || detail == nil || detail["customer_id"] != nil {
		return nil
	}
	needed := false
	for _, h := range hits {
		needed = needed || h.Rule.keysOnCustomer()
	}
	keys := identity.Keys(ev.Evidence.Channel, ev.Evidence.Customer)
	if !needed || len(keys) == 0 {
		return nil
	}
	cid, err := s.Customers.CustomerOf(ctx, keys)
	if err != nil {
		return fmt.Errorf("resolve the customer of event %s: %w", ev.ID, err)
	}
	detail["customer_id"] = cid
	ev.CustomerID = cid
	return nil
}
