package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/wakeup"
)

// WakePrefix starts the wake-up key of a loop ("loop:<failure id>");
// notification group keys never start with it.
const WakePrefix = "loop:"

// TicketRequest is a help-desk ticket to create. Key makes the creation
// idempotent at the help desk: the same key creates one ticket.
type TicketRequest struct {
	Key            string
	Subject        string
	Body           string
	RequesterName  string
	RequesterEmail string
	// Priority is low, normal, high or urgent.
	Priority   string
	Tags       []string
	ExternalID string
}

// Helpdesk creates tickets (internal/zendesk). An error wrapping
// *RetryLater is worth trying again.
type Helpdesk interface {
	CreateTicket(ctx context.Context, t TicketRequest) (id string, err error)
}

// RetryLater is a failed step worth trying again, after After if set.
type RetryLater struct {
	After time.Duration
	Err   error
}

func (e *RetryLater) Error() string { return "retry later: " + e.Err.Error() }
func (e *RetryLater) Unwrap() error { return e.Err }

// RouteActions lists the actions the notification routes taking a failure
// ask for (routes.yaml).
type RouteActions interface {
	Actions(f events.Failure) []string
}

// Escalator tells people that a failure's follow-up deadline passed with
// nobody reaching the customer (notify.Service: the owning team and its
// escalation team, at raised severity, exactly once).
type Escalator interface {
	EscalateFollowUp(ctx context.Context, f events.Failure, due time.Time) error
}

// Failures reads failure records.
type Failures interface {
	Get(ctx context.Context, id string) (events.Failure, error)
}

// Notes records a line on a failure's activity.
type Notes interface {
	Note(ctx context.Context, failureID, text string, at time.Time) error
}

// DefaultTicketLease is how long one attempt holds a failure's ticket slot:
// longer than a function's timeout, so a lapsed lease means the holder
// stopped and a retry may try again (with the same idempotency key).
const DefaultTicketLease = 2 * time.Minute

// retryTicket is how soon a ticket that could not be created is retried
// when the help desk gave no Retry-After.
const retryTicket = time.Minute

// Service runs the failure side of loops, in the notify function.
type Service struct {
	Store Store
	// Helpdesk, when nil, leaves tickets uncreated with the reason recorded.
	Helpdesk  Helpdesk
	Escalator Escalator
	Failures  Failures
	Notes     Notes
	// Reminder and Resolver, when set, remind of acknowledged failures and
	// resolve quiet ones (the rules' ack_reminder and auto_resolve).
	Reminder Reminder
	Resolver Resolver
	// Routes, when set, adds the actions the notification routes taking a
	// failure ask for to its rule's.
	Routes  RouteActions
	Bus     events.Publisher
	Wakeups wakeup.Scheduler
	Now     func() time.Time
	Log     *slog.Logger
}

// Observe opens the loop of a detected failure (and its ticket when the
// rule asks for one) and records a resolution. Every step is idempotent:
// a redelivered event finds it done.
func (s *Service) Observe(ctx context.Context, detailType string, f events.Failure) error {
	switch detailType {
	case events.TypeFailureDetected:
		return s.open(ctx, f)
	case events.TypeFailureAcknowledged:
		return s.acknowledged(ctx, f)
	case events.TypeFailureResolved:
		at := f.DetectedAt
		if n := len(f.History); n > 0 {
			at = f.History[n-1].At
		}
		_, _, err := update(ctx, s.Store, f.ID, func(r *Record) (bool, error) {
			if !r.ResolvedAt.IsZero() {
				return false, nil
			}
			r.ResolvedAt = at.UTC()
			return true, nil
		})
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	return nil
}

func (s *Service) open(ctx context.Context, f events.Failure) error {
	p := PolicyOf(f)
	if s.Routes != nil {
		for _, a := range s.Routes.Actions(f) {
			if !slices.Contains(p.Actions, a) {
				p.Actions = append(slices.Clone(p.Actions), a)
			}
		}
	}
	if f.CustomerID == "" && len(p.Actions) == 0 && p.FollowUp == 0 && p.AckReminder == 0 && p.AutoResolve == 0 {
		// Nobody to recover and nothing asked: a rate rule's failure.
		return nil
	}
	window := p.RecoveryWindow
	if window <= 0 {
		window = DefaultRecoveryWindow
	}
	r := Record{FailureLoop: events.FailureLoop{
		FailureID: f.ID, RuleID: f.RuleID, Team: f.Team, Severity: f.Severity, Channel: f.Labels["channel"],
		Journey: journeyOf(f), CustomerID: f.CustomerID, DetectedAt: f.DetectedAt.UTC(),
		DecideBy: f.DetectedAt.Add(window).UTC(),
	}, WantsTicket: p.Wants(ActionZendeskTicket)}
	if p.FollowUp > 0 {
		r.FollowUpDue = f.DetectedAt.Add(p.FollowUp).UTC()
	}
	if p.AutoResolve > 0 {
		r.AutoResolveCheck = f.DetectedAt.Add(p.AutoResolve).UTC()
	}
	switch err := s.Store.Put(ctx, r); {
	case errors.Is(err, ErrConflict):
		// Opened by an earlier delivery of the event.
		if r, err = s.Store.Get(ctx, f.ID); err != nil {
			return fmt.Errorf("read loop of failure %s: %w", f.ID, err)
		}
	case err != nil:
		return fmt.Errorf("open loop of failure %s: %w", f.ID, err)
	default:
		r.Version = 1
		s.log().Info("loop opened", "failure_id", f.ID, "rule", f.RuleID, "team", f.Team,
			"wants_ticket", r.WantsTicket, "follow_up_due", r.FollowUpDue, "decide_by", r.DecideBy)
	}
	var err error
	if r.WantsTicket && r.TicketID == "" {
		err = s.ensureTicket(ctx, f)
	}
	s.wakeNext(ctx, f.ID)
	// A ticket another attempt is creating, or one the help desk asked to
	// wait for (Retry-After), is the loop's wake-up's to retry: failing
	// the event would only spend Lambda's retries inside the wait and
	// dead-letter it. An outage without a wait fails the event, so Lambda
	// retries it within seconds.
	var later *RetryLater
	if errors.Is(err, ErrTicketInFlight) || errors.As(err, &later) && later.After > 0 {
		s.log().Warn("ticket left for the loop's wake-up", "failure_id", f.ID, "err", err)
		return nil
	}
	return err
}

// Wake does what a loop's wake-up is for: retries its ticket, escalates a
// missed follow-up, decides an outcome whose window ended. One that finds
// nothing due changes nothing.
func (s *Service) Wake(ctx context.Context, key string) error {
	id, ok := strings.CutPrefix(key, WakePrefix)
	if !ok || id == "" {
		s.log().Error("wake-up names no loop; dropped", "key", key)
		return nil
	}
	r, err := s.Store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read loop of failure %s: %w", id, err)
	}
	now := s.now()
	var errs []error
	if r.WantsTicket && r.TicketID == "" && !r.TicketFinal {
		f, err := s.Failures.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("read failure %s: %w", id, err)
		}
		errs = append(errs, s.ensureTicket(ctx, f))
	}
	if due := r.FollowUpDue; !due.IsZero() && !due.After(now) && r.FollowedUpAt.IsZero() && r.EscalatedAt.IsZero() && r.ResolvedAt.IsZero() {
		errs = append(errs, s.escalate(ctx, r, now))
	}
	if !r.Decided() && !r.DecideBy.After(now) {
		errs = append(errs, s.decideAtWindowEnd(ctx, id, now))
	}
	errs = append(errs, s.lifecycle(ctx, r, now))
	errs = append(errs, s.announce(ctx, id))
	s.wakeNext(ctx, id)
	return errors.Join(errs...)
}

// escalate tells the teams first, then records the escalation: a wake-up
// redelivered after a failed send sends again (the notify ledger keeps it
// to one message), and one after the record finds it done.
func (s *Service) escalate(ctx context.Context, r Record, now time.Time) error {
	f, err := s.Failures.Get(ctx, r.FailureID)
	if err != nil {
		return fmt.Errorf("read failure %s: %w", r.FailureID, err)
	}
	if f.State == "resolved" {
		return nil
	}
	if err := s.Escalator.EscalateFollowUp(ctx, f, r.FollowUpDue); err != nil {
		return fmt.Errorf("escalate missed follow-up of failure %s: %w", r.FailureID, err)
	}
	_, changed, err := update(ctx, s.Store, r.FailureID, func(r *Record) (bool, error) {
		if !r.EscalatedAt.IsZero() || !r.FollowedUpAt.IsZero() {
			return false, nil
		}
		r.EscalatedAt = now.UTC()
		r.announce(events.TypeFailureEscalated)
		return true, nil
	})
	if changed {
		s.log().Warn("follow-up missed; escalated", "failure_id", r.FailureID, "rule", r.RuleID, "team", r.Team, "due", r.FollowUpDue)
		s.note(ctx, r.FailureID, fmt.Sprintf("Nobody reached the customer by the follow-up deadline (%s); escalated.", r.FollowUpDue.Format(time.RFC3339)), now)
	}
	return err
}

// decideAtWindowEnd decides a loop whose window ended with no sign either
// way: a customer heard from since, with no new contact, recovered; one
// who went silent, or only came back with another contact, churned.
func (s *Service) decideAtWindowEnd(ctx context.Context, id string, now time.Time) error {
	_, _, err := update(ctx, s.Store, id, func(r *Record) (bool, error) {
		if r.Decided() || r.DecideBy.After(now) {
			return false, nil
		}
		switch {
		case r.CustomerID == "":
			// Nobody to watch: no outcome, and the loop leaves the customer
			// index all the same.
			r.decide("", "no customer", r.DecideBy)
		case r.LastActivityAt.IsZero():
			r.decide(events.OutcomeChurned, "silence", r.DecideBy)
		case r.RepeatContact:
			r.decide(events.OutcomeChurned, "repeat contact", r.DecideBy)
		default:
			r.decide(events.OutcomeRecovered, "no repeat contact", r.DecideBy)
		}
		return true, nil
	})
	return err
}

// decide records the outcome; an empty outcome closes the loop without
// one (nothing is announced).
func (r *Record) decide(outcome, reason string, at time.Time) {
	r.Outcome, r.Reason, r.DecidedAt = outcome, reason, at.UTC()
	if outcome == "" {
		r.Outcome = "none"
		return
	}
	r.Closed = !r.FollowedUpAt.IsZero() && !r.ResolvedAt.IsZero() && !r.ResolvedAt.After(r.DecidedAt)
	r.announce(events.TypeFailureOutcome)
}

// announce publishes what a loop recorded and not yet announced, then
// clears it. Consumers dedupe by failure id and type, so an event
// published twice (a crash before the clear) counts once.
func (s *Service) announce(ctx context.Context, id string) error {
	r, err := s.Store.Get(ctx, id)
	if err != nil || len(r.Unannounced) == 0 {
		return err
	}
	evs := make([]events.Event, 0, len(r.Unannounced))
	for _, typ := range r.Unannounced {
		at := r.DetectedAt
		switch typ {
		case events.TypeFailureFollowedUp:
			at = r.FollowedUpAt
		case events.TypeFailureEscalated:
			at = r.EscalatedAt
		case events.TypeFailureOutcome:
			at = r.DecidedAt
		}
		evs = append(evs, events.Event{Source: events.SourceRules, DetailType: typ, Detail: r.FailureLoop, Time: at})
	}
	if err := s.Bus.Publish(ctx, evs...); err != nil {
		return fmt.Errorf("publish loop events of failure %s: %w", id, err)
	}
	sent := r.Unannounced
	_, _, err = update(ctx, s.Store, id, func(r *Record) (bool, error) {
		var left []string
		for _, t := range r.Unannounced {
			if !slices.Contains(sent, t) {
				left = append(left, t)
			}
		}
		changed := len(left) != len(r.Unannounced)
		r.Unannounced = left
		return changed, nil
	})
	for _, t := range sent {
		s.log().Info("loop event published", "failure_id", id, "type", t, "outcome", r.Outcome, "reason", r.Reason)
	}
	return err
}

// wakeNext asks for a wake-up at the loop's next instant: its follow-up
// deadline, a ticket retry, the end of its window. A wake-up that cannot
// be scheduled is logged; the next event or wake-up of the loop asks again.
func (s *Service) wakeNext(ctx context.Context, id string) {
	if s.Wakeups == nil {
		return
	}
	r, err := s.Store.Get(ctx, id)
	if err != nil {
		return
	}
	now := s.now()
	var next time.Time
	// Only instants ahead: a step that failed now is retried by the
	// wake-up's redelivery, not by a wake-up for the past.
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if r.FollowedUpAt.IsZero() && r.EscalatedAt.IsZero() && r.ResolvedAt.IsZero() && r.FollowUpDue.After(now) {
		consider(r.FollowUpDue)
	}
	if r.WantsTicket && r.TicketID == "" && !r.TicketFinal {
		at := now.Add(retryTicket)
		if r.TicketLease.After(at) {
			at = r.TicketLease
		}
		consider(at)
	}
	if !r.Decided() {
		consider(r.DecideBy)
	}
	if r.ResolvedAt.IsZero() {
		consider(r.AckRemindAt)
		consider(r.AutoResolveCheck)
	}
	// Further off, the sweep schedules it when it comes within reach:
	// a wake-up days ahead would travel in hundreds of hops.
	if next.IsZero() || next.Sub(now) > SweepHorizon {
		return
	}
	if err := s.Wakeups.Schedule(ctx, WakePrefix+id, next); err != nil {
		s.log().Error("schedule loop wake-up", "failure_id", id, "at", next, "err", err)
	}
}

func (s *Service) note(ctx context.Context, id, text string, at time.Time) {
	if s.Notes == nil {
		return
	}
	if err := s.Notes.Note(ctx, id, text, at); err != nil {
		s.log().Error("record loop note on failure", "failure_id", id, "err", err)
	}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// SweepHorizon is how far ahead the sweep (the notify-flush schedule,
// every 5 minutes) schedules loops' wake-ups: more than its period, so
// every instant gets its exact wake-up before it comes.
const SweepHorizon = 10 * time.Minute

// sweepPage bounds the loops one sweep handles; the rest wait for the next.
const sweepPage = 500

// Sweep wakes every loop with something due now and asks for a wake-up at
// the instant of each coming due within SweepHorizon. It is also what
// catches a wake-up that was lost.
func (s *Service) Sweep(ctx context.Context) error {
	now := s.now()
	ids, err := s.Store.Due(ctx, now.Add(SweepHorizon), sweepPage)
	if err != nil {
		return fmt.Errorf("list loops coming due: %w", err)
	}
	var errs []error
	for _, id := range ids {
		r, err := s.Store.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if at := r.NextAt(); !at.After(now) {
			errs = append(errs, s.Wake(ctx, WakePrefix+id))
		} else if s.Wakeups != nil {
			errs = append(errs, s.Wakeups.Schedule(ctx, WakePrefix+id, at))
		}
	}
	return errors.Join(errs...)
}
