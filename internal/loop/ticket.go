package loop

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
)

// ErrTicketInFlight is returned while another attempt holds the ticket
// slot; a later retry finds the ticket or the lease lapsed.
var ErrTicketInFlight = errors.New("ticket creation in progress in another attempt")

// ensureTicket creates the failure's ticket unless it has one. The slot is
// claimed with a conditional write before the help desk is called, so two
// attempts never both call it; an attempt that dies after the call leaves
// the lease to lapse, and the retry sends the same idempotency key, which
// the help desk answers with the ticket already created.
func (s *Service) ensureTicket(ctx context.Context, f events.Failure) error {
	now := s.now()
	lease := now.Add(DefaultTicketLease)
	r, claimed, err := update(ctx, s.Store, f.ID, func(r *Record) (bool, error) {
		if r.TicketID != "" || r.TicketFinal || r.TicketLease.After(now) {
			return false, nil
		}
		r.TicketLease = lease
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("claim the ticket of failure %s: %w", f.ID, err)
	}
	if !claimed {
		if r.TicketID == "" && !r.TicketFinal {
			return fmt.Errorf("ticket of failure %s: %w", f.ID, ErrTicketInFlight)
		}
		return nil
	}
	req, why := TicketFor(f)
	var id string
	switch {
	case why != "":
		err = errors.New(why)
	case s.Helpdesk == nil:
		err = errors.New("no help desk configured")
	default:
		id, err = s.Helpdesk.CreateTicket(ctx, req)
	}
	var later *RetryLater
	retry := errors.As(err, &later)
	_, _, uerr := update(ctx, s.Store, f.ID, func(r *Record) (bool, error) {
		if r.TicketID != "" {
			return false, nil
		}
		r.TicketLease = time.Time{}
		switch {
		case err == nil:
			r.TicketID, r.TicketError = id, ""
		case retry:
			r.TicketError = err.Error()
			if later.After > 0 {
				// Held until the help desk's Retry-After, so no attempt
				// calls it sooner.
				r.TicketLease = now.Add(later.After)
			}
		default:
			r.TicketError, r.TicketFinal = err.Error(), true
		}
		return true, nil
	})
	switch {
	case uerr != nil:
		return fmt.Errorf("record the ticket of failure %s: %w", f.ID, uerr)
	case err == nil:
		s.log().Info("ticket created", "failure_id", f.ID, "rule", f.RuleID, "ticket_id", id)
		s.note(ctx, f.ID, "Zendesk ticket "+id+" opened for this failure.", now)
		return nil
	case retry:
		return fmt.Errorf("create the ticket of failure %s: %w", f.ID, err)
	default:
		s.log().Error("ticket not created; not retried", "failure_id", f.ID, "rule", f.RuleID, "err", err)
		s.note(ctx, f.ID, "No Zendesk ticket could be opened: "+err.Error(), now)
		return nil
	}
}

// priorities maps severity to the ticket's priority.
var priorities = map[string]string{"critical": "urgent", "warning": "high", "info": "normal"}

// TicketFor is the ticket of a failure: from the customer of its latest
// evidence that has an email, with the failure and its evidence as the
// description. why is set when no ticket can be made (no email).
func TicketFor(f events.Failure) (t TicketRequest, why string) {
	var who events.Customer
	for _, ev := range f.Evidence {
		if ev.Customer.Email != "" {
			who = ev.Customer
		}
	}
	if who.Email == "" {
		return t, "the failure's evidence names no customer email to open the ticket for"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", f.Description)
	if f.Summary != "" {
		fmt.Fprintf(&b, "%s\n\n", f.Summary)
	}
	fmt.Fprintf(&b, "Rule: %s · severity %s · team %s\nFailure: %s, detected %s\n", f.RuleID, f.Severity, f.Team, f.ID, f.DetectedAt.UTC().Format(time.RFC3339))
	if f.Runbook != "" {
		fmt.Fprintf(&b, "Runbook: %s\n", f.Runbook)
	}
	if len(f.Evidence) > 0 {
		b.WriteString("\nEvidence:\n")
	}
	for _, ev := range f.Evidence {
		fmt.Fprintf(&b, "- %s %s on %s", ev.OccurredAt.UTC().Format(time.RFC3339), ev.Type, ev.Channel)
		keys := make([]string, 0, len(ev.Attributes))
		for k := range ev.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			switch v := ev.Attributes[k].(type) {
			case string, float64, bool, int:
				parts = append(parts, fmt.Sprintf("%s=%v", k, v))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
		}
		b.WriteString("\n")
	}
	prio := priorities[f.Severity]
	if prio == "" {
		prio = "normal"
	}
	return TicketRequest{
		Key: "ocx-" + f.ID, Subject: f.Description, Body: b.String(),
		RequesterEmail: who.Email, Priority: prio,
		Tags:       []string{"ocx", "ocx_rule_" + tagSafe(f.RuleID), "ocx_team_" + tagSafe(f.Team)},
		ExternalID: f.ID,
	}, ""
}

// tagSafe makes a Zendesk tag: tags are space-separated, so no spaces.
func tagSafe(s string) string { return strings.ReplaceAll(strings.ToLower(s), " ", "_") }
