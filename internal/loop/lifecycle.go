package loop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ocxhq/ocx/events"
)

// Reminder reminds people of an acknowledged failure nobody resolved
// (notify.Service: the owning team, once per reminder and receiver).
type Reminder interface {
	RemindAcknowledged(ctx context.Context, f events.Failure, n int) error
}

// The lifecycle side of a loop: a failure acknowledged and then left is
// reminded every AckReminder; one whose condition has not recurred for
// AutoResolve is resolved. Both run from the loop's wake-up.

// resolvedBy names the loop in a failure's history.
const resolvedBy = "ocx"

// acknowledged arms the reminder of a failure just acknowledged.
func (s *Service) acknowledged(ctx context.Context, f events.Failure) error {
	p := PolicyOf(f)
	if p.AckReminder <= 0 {
		return nil
	}
	at := f.DetectedAt
	if n := len(f.History); n > 0 {
		at = f.History[n-1].At
	}
	_, changed, err := update(ctx, s.Store, f.ID, func(r *Record) (bool, error) {
		if !r.AckedAt.IsZero() || !r.ResolvedAt.IsZero() {
			return false, nil
		}
		r.AckedAt, r.AckRemindAt = at.UTC(), at.Add(p.AckReminder).UTC()
		return true, nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if changed {
		s.wakeNext(ctx, f.ID)
	}
	return err
}

// lifecycle does what is due of the reminder and the auto-resolution.
func (s *Service) lifecycle(ctx context.Context, r Record, now time.Time) error {
	remind := !r.AckRemindAt.IsZero() && !r.AckRemindAt.After(now) && r.ResolvedAt.IsZero()
	check := !r.AutoResolveCheck.IsZero() && !r.AutoResolveCheck.After(now) && r.ResolvedAt.IsZero()
	if !remind && !check {
		return nil
	}
	f, err := s.Failures.Get(ctx, r.FailureID)
	if err != nil {
		return fmt.Errorf("read failure %s: %w", r.FailureID, err)
	}
	p := PolicyOf(f)
	var errs []error
	if check && f.State != "resolved" && p.AutoResolve > 0 {
		quiet := f.LastSeenAt
		if quiet.IsZero() {
			quiet = f.DetectedAt
		}
		if due := quiet.Add(p.AutoResolve); due.After(now) {
			// It recurred since: look again when it has been quiet long enough.
			errs = append(errs, s.set(ctx, r.FailureID, func(r *Record) { r.AutoResolveCheck = due.UTC() }))
		} else if s.Resolver != nil {
			note := fmt.Sprintf("The condition has not recurred for %s; resolved automatically.", p.AutoResolve)
			if _, err := s.Resolver.Resolve(ctx, r.FailureID, resolvedBy, note); err != nil {
				errs = append(errs, fmt.Errorf("auto-resolve failure %s: %w", r.FailureID, err))
			} else {
				s.log().Info("failure auto-resolved", "failure_id", r.FailureID, "rule", r.RuleID, "quiet_since", quiet)
				f.State = "resolved"
			}
		}
	}
	if remind && f.State == "acknowledged" && p.AckReminder > 0 && s.Reminder != nil {
		n := r.AckReminders + 1
		if err := s.Reminder.RemindAcknowledged(ctx, f, n); err != nil {
			errs = append(errs, fmt.Errorf("remind of acknowledged failure %s: %w", r.FailureID, err))
		} else {
			errs = append(errs, s.set(ctx, r.FailureID, func(r *Record) {
				if r.AckReminders < n {
					// Every AckReminder from the acknowledgement, not from
					// when this one went out; after a long outage, one period on.
					next := r.AckRemindAt.Add(p.AckReminder)
					if !next.After(now) {
						next = now.Add(p.AckReminder)
					}
					r.AckReminders, r.AckRemindAt = n, next.UTC()
				}
			}))
		}
	}
	return errors.Join(errs...)
}

// set applies a bookkeeping change to a loop.
func (s *Service) set(ctx context.Context, id string, change func(r *Record)) error {
	_, _, err := update(ctx, s.Store, id, func(r *Record) (bool, error) {
		change(r)
		return true, nil
	})
	return err
}
