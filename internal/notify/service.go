package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/team"
)

// Backoff bounds how one receiver is retried within one delivery. Beyond it,
// the delivery fails and the Lambda's own retries and dead-letter queue take
// over; the Ledger keeps receivers that succeeded from sending again.
type Backoff struct {
	// Attempts is how many tries in all, the first included.
	Attempts int
	// Initial is the wait before the second try; it doubles after each.
	Initial time.Duration
	// Max caps any single wait. A receiver asking to wait longer (Retry-After)
	// is not retried in this delivery.
	Max time.Duration
}

// DefaultBackoff fits well inside the notify function's 60 s timeout: at most
// 1 + 2 + 4 s of backoff, or a Retry-After of up to 10 s.
var DefaultBackoff = Backoff{Attempts: 4, Initial: time.Second, Max: 10 * time.Second}

// DefaultLease is how long a claim keeps other attempts from sending. It is
// longer than the notify function's 60 s timeout, so a claim outlives the
// attempt that took it, and shorter than the minute Lambda waits before
// retrying a failed invocation, so a crashed attempt does not block the
// retry.
const DefaultLease = 90 * time.Second

// recordTimeout bounds marking sent or releasing after the send; these run
// even when the delivery's context has ended.
const recordTimeout = 5 * time.Second

// Service routes each failure to its owning team and sends it through every
// notifier that serves the team.
type Service struct {
	Teams     team.Registry
	Notifiers []Notifier
	Ledger    Ledger
	// Now is the clock for leases and delivery times; nil means time.Now.
	Now func() time.Time
	// Log receives one record per receiver and retry; nil means slog.Default().
	Log *slog.Logger
	// Backoff bounds retries; the zero value means DefaultBackoff.
	Backoff Backoff
	// Lease is how long a claim lasts; zero means DefaultLease.
	Lease time.Duration
	// Sleep waits between retries; nil waits on a timer. Tests replace it so
	// they need not wait.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Deliver sends f to its team through every notifier that serves the team,
// concurrently. Receivers that already delivered f are not sent again. The
// error joins one error per receiver that did not deliver.
func (s *Service) Deliver(ctx context.Context, f events.Failure) error {
	if f.ID == "" {
		return fmt.Errorf("deliver failure of rule %q: failure has no id", f.RuleID)
	}
	t, ok := s.Teams.Get(f.Team)
	if !ok {
		return fmt.Errorf("deliver failure %s: team %q: %w", f.ID, f.Team, ErrUnknownTeam)
	}
	log := s.logger().With("failure_id", f.ID, "rule_id", f.RuleID, "team", t.ID)

	var receivers []Notifier
	for _, n := range s.Notifiers {
		if sel, ok := n.(Selective); ok && !sel.Serves(t) {
			log.Debug("receiver does not serve team", "receiver", Receiver(t, n))
			continue
		}
		receivers = append(receivers, n)
	}
	if len(receivers) == 0 {
		return fmt.Errorf("deliver failure %s to team %s: %w", f.ID, t.ID, ErrNoReceiver)
	}

	errs := make([]error, len(receivers))
	var wg sync.WaitGroup
	for i, n := range receivers {
		wg.Go(func() { errs[i] = s.deliverTo(ctx, log, t, n, f) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deliverTo runs claim, send, mark-sent-or-release for one receiver.
func (s *Service) deliverTo(ctx context.Context, log *slog.Logger, t team.Team, n Notifier, f events.Failure) error {
	receiver := Receiver(t, n)
	log = log.With("receiver", receiver)

	now := s.now()
	until := now.Add(s.lease())
	claim, err := s.Ledger.Claim(ctx, f.ID, receiver, now, until)
	if err != nil {
		return fmt.Errorf("claim delivery of failure %s to %s: %w", f.ID, receiver, err)
	}
	switch claim {
	case Granted:
	case AlreadySent:
		log.Info("already delivered")
		return nil
	case Held:
		log.Warn("another attempt holds the delivery")
		return fmt.Errorf("deliver failure %s to %s: %w", f.ID, receiver, ErrInFlight)
	default:
		return fmt.Errorf("claim delivery of failure %s to %s: unexpected outcome %v", f.ID, receiver, claim)
	}

	attempts, sendErr := s.send(ctx, log, t, n, f)

	// The outcome is recorded even if ctx has just ended: a send that
	// happened must not be repeated, and a failed one must not wait out the
	// lease before a retry may send.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if sendErr != nil {
		if err := s.Ledger.Release(rctx, f.ID, receiver, until); err != nil {
			log.Error("release claim; a retry must wait for the lease to lapse", "err", err)
		}
		log.Error("delivery failed", "attempts", attempts, "err", sendErr)
		return fmt.Errorf("deliver failure %s to %s (%d attempts): %w", f.ID, receiver, attempts, sendErr)
	}
	if err := s.Ledger.MarkSent(rctx, f.ID, receiver, s.now()); err != nil {
		// The message went out. Failing the delivery would make the Lambda
		// retry send it again once the lease lapses, so log and carry on.
		log.Error("record delivery; a redelivery after the lease would send again", "err", err)
	}
	log.Info("delivered", "attempts", attempts)
	return nil
}

// send calls n until it succeeds, says retrying is pointless, or the backoff
// is exhausted.
func (s *Service) send(ctx context.Context, log *slog.Logger, t team.Team, n Notifier, f events.Failure) (attempts int, err error) {
	b := s.backoff()
	delay := b.Initial
	for attempt := 1; ; attempt++ {
		retry, err := n.Notify(ctx, t, f)
		if err == nil {
			return attempt, nil
		}
		if !retry || attempt >= b.Attempts {
			return attempt, err
		}
		wait := jitter(delay)
		var ra *RetryAfterError
		if errors.As(err, &ra) && ra.After > wait {
			wait = ra.After
		}
		if wait > b.Max {
			return attempt, fmt.Errorf("receiver asks to wait %s, longer than this delivery waits: %w", wait, err)
		}
		// Deadlines are wall-clock, so this compares against the real clock
		// rather than s.Now.
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return attempt, fmt.Errorf("no time left to wait %s and retry: %w", wait, err)
		}
		log.Warn("send failed, retrying", "attempt", attempt, "wait", wait, "err", err)
		if werr := s.sleep(ctx, wait); werr != nil {
			return attempt, fmt.Errorf("%w (while waiting to retry after: %w)", werr, err)
		}
		delay = min(2*delay, b.Max)
	}
}

// jitter spreads retries over [d/2, d] so receivers failing together (a
// Slack outage seen by many concurrent functions) do not retry in lockstep.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Service) backoff() Backoff {
	if s.Backoff == (Backoff{}) {
		return DefaultBackoff
	}
	b := s.Backoff
	b.Attempts = max(b.Attempts, 1)
	return b
}

func (s *Service) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return DefaultLease
}

func (s *Service) sleep(ctx context.Context, d time.Duration) error {
	if s.Sleep != nil {
		return s.Sleep(ctx, d)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
