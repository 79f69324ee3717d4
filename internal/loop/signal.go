package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
)

// Customers resolves identity keys to a customer id without writing (the
// rules function's read-only lookup).
type Customers interface {
	CustomerOf(ctx context.Context, keys []identity.Key) (string, error)
}

// Resolver resolves a failure (failure.Service).
type Resolver interface {
	Resolve(ctx context.Context, id, by, note string) (events.Failure, error)
}

// Watcher runs the customer side of loops, in the rules function: it reads
// each interaction for a solved ticket, a team reaching a customer, and a
// customer's sign of recovery or churn.
type Watcher struct {
	Service   *Service
	Customers Customers
	Resolver  Resolver
	Log       *slog.Logger
}

// TicketSolved is the interaction type the help-desk channel gives a
// ticket moved to solved (internal/channel/zendesk); a ticket closed
// without passing through solved is a TicketStatusChanged to "closed".
const (
	TicketSolved        = "ticket.solved"
	TicketStatusChanged = "ticket.status_changed"
)

// recoveredBy and churnedBy are the event types that decide an outcome by
// themselves.
var (
	recoveredBy = map[string]bool{"order.created": true, "payment.succeeded": true, "checkout.completed": true}
	churnedBy   = map[string]bool{"order.cancelled": true, "order.refunded": true, "payment.refunded": true}
	contacts    = map[string]bool{"ticket.created": true, "conversation.opened": true, "message.received": true, "call.completed": true}
)

// Observe reads one interaction.
func (w *Watcher) Observe(ctx context.Context, in events.Interaction) error {
	var errs []error
	if status, _ := in.Attributes["status"].(string); in.Type == TicketSolved || in.Type == TicketStatusChanged && status == "closed" {
		errs = append(errs, w.ticketSolved(ctx, in))
	}
	keys := identity.Keys(in.Channel, in.Customer)
	if len(keys) == 0 || w.Customers == nil {
		return errors.Join(errs...)
	}
	cid, err := w.Customers.CustomerOf(ctx, keys)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("resolve the customer of event %s: %w", in.ID, err))...)
	}
	if cid == "" {
		return errors.Join(errs...)
	}
	ids, err := w.Service.Store.OfCustomer(ctx, cid)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list loops of customer %s: %w", cid, err))...)
	}
	for _, id := range ids {
		_, changed, err := update(ctx, w.Service.Store, id, func(r *Record) (bool, error) { return r.apply(in), nil })
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if changed {
			errs = append(errs, w.Service.announce(ctx, id))
		}
	}
	return errors.Join(errs...)
}

func (w *Watcher) ticketSolved(ctx context.Context, in events.Interaction) error {
	ticket, _ := in.Attributes["ticket_id"].(string)
	if ticket == "" {
		return nil
	}
	id, err := w.Service.Store.ByTicket(ctx, ticket)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find the failure of ticket %s: %w", ticket, err)
	}
	verb := "solved"
	if in.Type != TicketSolved {
		verb = "closed"
	}
	if _, err := w.Resolver.Resolve(ctx, id, in.Channel, "Zendesk ticket "+ticket+" was "+verb); err != nil {
		return fmt.Errorf("resolve failure %s for solved ticket %s: %w", id, ticket, err)
	}
	w.log().Info("failure resolved by its solved ticket", "failure_id", id, "ticket_id", ticket, "event_id", in.ID)
	return nil
}

// TeamReached reports whether an interaction is the team reaching the
// customer: an agent's reply or comment, an outbound message or call.
func TeamReached(in events.Interaction) bool {
	if a, _ := in.Attributes["author"].(string); a == "agent" {
		return true
	}
	d, _ := in.Attributes["direction"].(string)
	return strings.HasPrefix(d, "outbound")
}

// apply records what an interaction says about the loop; it reports
// whether anything changed. Events before the failure, and the help
// desk's own events about the loop's ticket, are not the customer's doing.
func (r *Record) apply(in events.Interaction) bool {
	at := in.OccurredAt.UTC()
	if r.Decided() || !at.After(r.DetectedAt) || at.After(r.DecideBy) {
		return false
	}
	if TeamReached(in) {
		if !r.FollowedUpAt.IsZero() {
			return false
		}
		r.FollowedUpAt, r.FollowedUpBy = at, in.Type
		r.announce(events.TypeFailureFollowedUp)
		return true
	}
	if t, _ := in.Attributes["ticket_id"].(string); t != "" && t == r.TicketID {
		return false
	}
	changed := false
	if at.After(r.LastActivityAt) {
		r.LastActivityAt, changed = at, true
	}
	if isContact(in) && !r.RepeatContact {
		r.RepeatContact, changed = true, true
	}
	switch {
	case in.Type == events.TypeSurveyResponded:
		survey, _ := in.Attributes["survey"].(string)
		score, ok := in.Attributes["score"].(float64)
		if ok && (survey == "nps" && score >= 7 || survey == "csat" && score >= 4) {
			r.decide(events.OutcomeRecovered, fmt.Sprintf("%s %v", survey, score), at)
			return true
		}
	case recoveredBy[in.Type]:
		r.decide(events.OutcomeRecovered, in.Type, at)
		return true
	case churnedBy[in.Type]:
		r.decide(events.OutcomeChurned, in.Type, at)
		return true
	}
	return changed
}

func isContact(in events.Interaction) bool {
	if !contacts[in.Type] {
		return false
	}
	d, _ := in.Attributes["direction"].(string)
	return !strings.HasPrefix(d, "outbound")
}

// Contacted records that by reached the customer of failure id outside
// any channel OCX hears (a phone call noted in the console, Slack's
// "Contacted").
func (s *Service) Contacted(ctx context.Context, id, by string) (Record, error) {
	now := s.now().UTC()
	r, changed, err := update(ctx, s.Store, id, func(r *Record) (bool, error) {
		if !r.FollowedUpAt.IsZero() || r.Decided() {
			return false, nil
		}
		r.FollowedUpAt, r.FollowedUpBy = now, by
		r.announce(events.TypeFailureFollowedUp)
		return true, nil
	})
	if err != nil {
		return r, err
	}
	if changed {
		if err := s.announce(ctx, id); err != nil {
			s.log().Warn("loop event left for the next wake-up", "failure_id", id, "err", err)
		}
		s.note(ctx, id, "Customer contacted ("+by+").", now)
	}
	return s.Store.Get(ctx, id)
}

func (w *Watcher) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.Default()
}
