package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/dispatch"
	"github.com/ocxhq/ocx/internal/inhibit"
	"github.com/ocxhq/ocx/internal/labels"
	"github.com/ocxhq/ocx/internal/silence"
	"github.com/ocxhq/ocx/internal/team"
	"github.com/ocxhq/ocx/internal/wakeup"
)

// Backoff bounds how one receiver is retried within one delivery. Beyond it,
// a failure worth retrying leaves the group due for a later flush (see
// RetryFor); any other goes to the dead-letter queue.
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
// 1 + 2 s of backoff, or a Retry-After of up to 10 s. Longer outages are
// ridden out across flushes, not inside one invocation.
var DefaultBackoff = Backoff{Attempts: 3, Initial: time.Second, Max: 10 * time.Second}

// DefaultRetryFor is how long a group's send keeps being retried across
// flushes when its receiver is down (Slack's outage, a 429 with a long
// Retry-After) before the notification goes to the dead-letter queue.
const DefaultRetryFor = 2 * time.Hour

// Flush-level retry waits: doubling from retryFirst, capped at retryMax,
// jittered, and never shorter than a receiver's Retry-After.
const (
	retryFirst = 30 * time.Second
	retryMax   = 10 * time.Minute
)

// DefaultLease is how long a claim keeps other attempts from sending. It is
// longer than the notify function's 60 s timeout, so a claim outlives the
// attempt that took it, and shorter than the minute Lambda waits before
// retrying a failed invocation, so a crashed attempt does not block the
// retry.
const DefaultLease = 90 * time.Second

// recordTimeout bounds marking sent or releasing after the send; these run
// even when the delivery's context has ended.
const recordTimeout = 5 * time.Second

// GroupStore keeps notification groups and their members.
type GroupStore interface {
	// AddMember puts f into group key, reporting false when it was already
	// a member (a redelivered event).
	AddMember(ctx context.Context, key string, f events.Failure, at time.Time) (added bool, err error)
	// UpdateMember replaces the record of a member, reporting false when f
	// is not a member of the group.
	UpdateMember(ctx context.Context, key string, f events.Failure) (found bool, err error)
	// Group returns the group's state; found is false for a new group.
	Group(ctx context.Context, key string) (g Group, found bool, err error)
	// GroupMembers returns every member of the group.
	GroupMembers(ctx context.Context, key string) ([]Member, error)
	// SaveGroup stores g if the stored version is still g.Version (0 for a
	// new group); ErrConflict otherwise.
	SaveGroup(ctx context.Context, g Group) error
	// Due lists the keys of groups due at or before now.
	Due(ctx context.Context, now time.Time) ([]string, error)
	// Inhibiting failures: those that match an inhibit rule's source, kept
	// while they are unresolved.
	PutSource(ctx context.Context, f events.Failure) error
	DeleteSource(ctx context.Context, failureID string) error
	Sources(ctx context.Context) (map[string]labels.Set, error)
}

// ErrConflict is returned by SaveGroup when another writer changed the group.
var ErrConflict = errors.New("group changed concurrently")

// Silences lists the silences that may mute notifications.
type Silences interface {
	List(ctx context.Context) ([]silence.Silence, error)
}

// DeadLetter is a notification that could not be delivered after every
// retry, kept for an operator.
type DeadLetter struct {
	GroupKey string    `json:"group_key"`
	Receiver string    `json:"receiver"`
	Phase    string    `json:"phase"`
	Failures []string  `json:"failure_ids"`
	Error    string    `json:"error"`
	At       time.Time `json:"at"`
}

// DeadLetters keeps undeliverable notifications (an SQS queue in AWS).
type DeadLetters interface {
	SendJSON(ctx context.Context, v any) error
}

// Metrics counts what operators alarm on.
type Metrics interface {
	Count(name string, n int, dims map[string]string)
}

// MetricUndeliverable counts notifications that went to the dead-letter
// queue; the stack alarms on any.
const MetricUndeliverable = "NotificationsUndeliverable"

// Service groups failures and flushes due groups to their teams.
type Service struct {
	Teams     team.Registry
	Routes    dispatch.Config
	Groups    GroupStore
	Silences  Silences
	Notifiers []Notifier
	Ledger    Ledger
	Dead      DeadLetters
	Metrics   Metrics
	// Now is the clock for grouping, leases and delivery times; nil means
	// time.Now.
	Now func() time.Time
	// Log receives one record per delivery and retry; nil means slog.Default().
	Log *slog.Logger
	// Backoff bounds retries; the zero value means DefaultBackoff.
	Backoff Backoff
	// Lease is how long a claim lasts; zero means DefaultLease.
	Lease time.Duration
	// Sleep waits between retries; nil waits on a timer. Tests replace it so
	// they need not wait.
	Sleep func(ctx context.Context, d time.Duration) error
	// RetryFor is how long a group whose receiver keeps failing is retried;
	// zero means DefaultRetryFor.
	RetryFor time.Duration
	// Notes, when set, records an undeliverable notification on each of
	// its failures, so whoever opens the failure sees nobody was told.
	Notes FailureNotes
	// Wakeups, when set, is asked to wake the function (Wake) the moment a
	// saved group falls due; without it groups wait for the next Flush.
	Wakeups wakeup.Scheduler
}

// FailureNotes records a line on a failure's history.
type FailureNotes interface {
	Note(ctx context.Context, failureID, text string, at time.Time) error
}

// laterError is a send that failed for a reason worth retrying once the
// receiver recovers; the group stays due and a later flush tries again.
type laterError struct {
	after time.Duration // the receiver's Retry-After, if it gave one
	err   error
}

func (e *laterError) Error() string { return "retry later: " + e.err.Error() }
func (e *laterError) Unwrap() error { return e.err }

// flushTry is what one flush of one group shares among its sends.
type flushTry struct {
	// final is true when the group has been retried for RetryFor: a send
	// that fails now goes to the dead-letter queue.
	final bool
}

// maxSaveAttempts bounds retries of a group update that keeps meeting
// concurrent writers.
const maxSaveAttempts = 5

// Observe records a failure lifecycle event: a detected failure joins its
// groups; an acknowledged or resolved one updates them so the next flush
// stops reminders or sends the resolved follow-up.
func (s *Service) Observe(ctx context.Context, detailType string, f events.Failure) error {
	if f.ID == "" {
		return fmt.Errorf("observe %s of rule %q: failure has no id", detailType, f.RuleID)
	}
	if _, ok := s.Teams.Get(f.Team); !ok {
		return fmt.Errorf("observe failure %s: team %q: %w", f.ID, f.Team, ErrUnknownTeam)
	}
	set := labels.Of(f)
	now := s.now()
	if inhibit.IsSource(s.Routes.Inhibit, set) {
		var err error
		if detailType == events.TypeFailureResolved {
			err = s.Groups.DeleteSource(ctx, f.ID)
		} else {
			err = s.Groups.PutSource(ctx, f)
		}
		if err != nil {
			return fmt.Errorf("record inhibiting failure %s: %w", f.ID, err)
		}
	}
	var dueNow []string
	for _, t := range s.Routes.Targets(set, f.Team) {
		if _, ok := s.Teams.Get(t.Team); !ok {
			return fmt.Errorf("observe failure %s: route %s: team %q: %w", f.ID, t.Route.ID, t.Team, ErrUnknownTeam)
		}
		var changed bool
		var err error
		if detailType == events.TypeFailureDetected {
			changed, err = s.Groups.AddMember(ctx, t.Key, f, now)
		} else {
			changed, err = s.Groups.UpdateMember(ctx, t.Key, f)
		}
		if err != nil {
			return fmt.Errorf("group failure %s into %s: %w", f.ID, t.Key, err)
		}
		due, err := s.touch(ctx, t, changed, detailType, now)
		if err != nil {
			return fmt.Errorf("group failure %s into %s: %w", f.ID, t.Key, err)
		}
		if !due.IsZero() && !due.After(now) {
			dueNow = append(dueNow, t.Key)
		}
		s.logger().Info("grouped", "failure_id", f.ID, "event", detailType, "group", t.Key, "route", t.Route.ID, "team", t.Team, "changed", changed, "due", due)
	}
	// A group due at once (group_wait 0, a resolution, an update after
	// group_interval) is sent now rather than at the next scheduled flush.
	return s.flush(ctx, now, dueNow)
}

// touch schedules the group after a member joined or changed, and returns
// when it is due. A redelivered detection still creates a group that a
// crash left uncreated.
func (s *Service) touch(ctx context.Context, t dispatch.Target, changed bool, detailType string, now time.Time) (time.Time, error) {
	for attempt := 1; ; attempt++ {
		g, found, err := s.Groups.Group(ctx, t.Key)
		if err != nil {
			return time.Time{}, err
		}
		if found && !changed {
			return time.Time{}, nil
		}
		was, resolvedSent := g.Due, g.ResolvedSent
		if !found {
			if detailType != events.TypeFailureDetected {
				return time.Time{}, nil
			}
			r := t.Route
			g = Group{Key: t.Key, Route: r.ID, Team: t.Team, Labels: t.Labels, CreatedAt: now,
				GroupWait: r.GroupWait, GroupInterval: r.GroupInterval, RepeatInterval: r.RepeatInterval}
		}
		if detailType == events.TypeFailureDetected {
			g.joined(now)
		} else {
			g.changed(now)
		}
		if found && g.Due.Equal(was) && g.ResolvedSent == resolvedSent && g.Due.After(now) {
			// A failure joined a group already waiting to be sent: the
			// flush at its due time reads the members then, this one
			// included, so the group itself need not be written. A
			// group not yet due has no flush in progress (a flush takes
			// due groups and saves them before it ends); a burst of
			// failures writes its group once, not once each.
			return g.Due, nil
		}
		err = s.Groups.SaveGroup(ctx, g)
		if errors.Is(err, ErrConflict) && attempt < maxSaveAttempts {
			continue
		}
		if err == nil {
			s.wakeAt(ctx, s.logger(), g.Key, g.Due, was, now)
		}
		return g.Due, err
	}
}

// Flush sends every group that is due. The error joins one error per group
// that must be tried again; undeliverable notifications are not errors,
// they are in the dead-letter queue.
func (s *Service) Flush(ctx context.Context) error {
	now := s.now()
	keys, err := s.Groups.Due(ctx, now)
	if err != nil {
		return fmt.Errorf("list due groups: %w", err)
	}
	s.logger().Info("flush", "due_groups", len(keys), "now", now)
	return s.flush(ctx, now, keys)
}

// flush sends the groups named by keys that are due at now.
func (s *Service) flush(ctx context.Context, now time.Time, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	sils, err := s.Silences.List(ctx)
	if err != nil {
		return fmt.Errorf("list silences: %w", err)
	}
	sources, err := s.Groups.Sources(ctx)
	if err != nil {
		return fmt.Errorf("list inhibiting failures: %w", err)
	}
	muted := func(m Member) bool {
		set := labels.Of(m.Failure)
		for _, sl := range sils {
			if sl.Mutes(set, now) {
				return true
			}
		}
		return inhibit.Muted(s.Routes.Inhibit, m.Failure.ID, set, sources)
	}
	var errs []error
	for _, key := range keys {
		if err := s.flushGroup(ctx, key, now, muted); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) flushGroup(ctx context.Context, key string, now time.Time, muted func(Member) bool) error {
	for attempt := 1; ; attempt++ {
		g, found, err := s.Groups.Group(ctx, key)
		if err != nil || !found {
			return fmt.Errorf("read group %s: %w (found %v)", key, err, found)
		}
		if g.Due.IsZero() || g.Due.After(now) {
			return nil // another run flushed it
		}
		members, err := s.Groups.GroupMembers(ctx, key)
		if err != nil {
			return fmt.Errorf("read members of group %s: %w", key, err)
		}
		owner, ok := s.Teams.Get(g.Team)
		if !ok {
			return fmt.Errorf("flush group %s: team %q: %w", key, g.Team, ErrUnknownTeam)
		}
		log := s.logger().With("group", key, "team", g.Team, "route", g.Route)
		next := g
		next.RetryingSince, next.Retries, next.LastError = time.Time{}, 0, ""
		out := plan(&next, members, flushView{now: now, muted: muted, owner: owner})
		at := flushTry{final: !g.RetryingSince.IsZero() && now.Sub(g.RetryingSince) >= s.retryFor()}
		var errs []error
		var later []*laterError
		for _, n := range out {
			if n.Kind == Escalated {
				if n.Team, ok = s.Teams.Get(n.Team.ID); !ok {
					errs = append(errs, fmt.Errorf("escalate group %s: team %q: %w", key, n.Team.ID, ErrUnknownTeam))
					continue
				}
			}
			err := s.deliver(ctx, log, n, at)
			var le *laterError
			if errors.As(err, &le) && err == error(le) {
				later = append(later, le)
				continue
			}
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			// Left due: the next run sends what is missing; the Ledger keeps
			// what went out from going again.
			return err
		}
		if len(later) > 0 {
			// A receiver is down. The group keeps its state, so the same
			// phases are planned again, and falls due after a backoff; the
			// Ledger keeps what did go out from going twice.
			return s.retryLater(ctx, log, g, now, later)
		}
		err = s.Groups.SaveGroup(ctx, next)
		if errors.Is(err, ErrConflict) && attempt < maxSaveAttempts {
			continue
		}
		if err != nil {
			return fmt.Errorf("save group %s: %w", key, err)
		}
		s.wakeAt(ctx, log, key, next.Due, g.Due, now)
		log.Info("group flushed", "notifications", len(out), "members", len(members), "next_due", next.Due)
		return nil
	}
}

// retryLater leaves g due after a backoff that grows with each failed
// flush and honours the longest Retry-After asked for.
func (s *Service) retryLater(ctx context.Context, log *slog.Logger, g Group, now time.Time, later []*laterError) error {
	if g.RetryingSince.IsZero() {
		g.RetryingSince = now
	}
	g.Retries++
	wait := jitter(min(retryFirst<<min(g.Retries-1, 10), retryMax))
	var msgs []string
	for _, le := range later {
		wait = max(wait, le.after)
		msgs = append(msgs, le.err.Error())
	}
	// The last try happens when RetryFor is up, however the backoff falls.
	if end := g.RetryingSince.Add(s.retryFor()); now.Add(wait).After(end) {
		wait = max(end.Sub(now), time.Second)
	}
	g.Due = now.Add(wait)
	g.LastError = Shorten(strings.Join(msgs, "; "), 500)
	if err := s.Groups.SaveGroup(ctx, g); errors.Is(err, ErrConflict) {
		// Another writer changed the group; it is still due, so the next
		// flush tries again. Failing here would only make the event that
		// triggered this flush retry into the same outage.
		log.Warn("receiver down; group changed meanwhile, left due", "err", g.LastError)
		return nil
	} else if err != nil {
		return fmt.Errorf("keep group %s due for a retry: %w", g.Key, err)
	}
	s.wakeAt(ctx, log, g.Key, g.Due, time.Time{}, now)
	log.Warn("receiver down; group kept due", "retries", g.Retries, "retrying_since", g.RetryingSince, "next_try", g.Due, "err", g.LastError)
	return nil
}

// deliver sends n through every notifier that serves its team.
func (s *Service) deliver(ctx context.Context, log *slog.Logger, n Notification, at flushTry) error {
	log = log.With("phase", n.Phase)
	var receivers []Notifier
	for _, nt := range s.Notifiers {
		if sel, ok := nt.(Selective); ok && !sel.Serves(n.Team) {
			continue
		}
		receivers = append(receivers, nt)
	}
	if len(receivers) == 0 {
		log.Warn("no receiver serves the team", "to", n.Team.ID)
	}
	errs := make([]error, len(receivers))
	var wg sync.WaitGroup
	for i, nt := range receivers {
		wg.Go(func() { errs[i] = s.deliverTo(ctx, log, nt, n, at) })
	}
	wg.Wait()
	// Only retry-later outcomes: one laterError, the longest wait asked.
	var later *laterError
	for _, err := range errs {
		var le *laterError
		switch {
		case err == nil:
		case errors.As(err, &le) && err == error(le):
			if later == nil || le.after > later.after {
				later = le
			}
		default:
			return errors.Join(errs...)
		}
	}
	if later != nil {
		return later
	}
	return nil
}

// deliverTo runs claim, send, mark-sent-or-release for one receiver. A send
// that fails for good goes to the dead-letter queue and counts as handled.
func (s *Service) deliverTo(ctx context.Context, log *slog.Logger, nt Notifier, n Notification, at flushTry) error {
	receiver := Receiver(n.Team, nt)
	id := DeliveryID(n.GroupKey, n.Phase)
	log = log.With("receiver", receiver)

	now := s.now()
	until := now.Add(s.lease())
	claim, err := s.Ledger.Claim(ctx, id, receiver, now, until)
	if err != nil {
		return fmt.Errorf("claim delivery %s to %s: %w", id, receiver, err)
	}
	switch claim {
	case Granted:
	case AlreadySent:
		log.Info("already delivered")
		return nil
	case Held:
		log.Warn("another attempt holds the delivery")
		return fmt.Errorf("deliver %s to %s: %w", id, receiver, ErrInFlight)
	default:
		return fmt.Errorf("claim delivery %s to %s: unexpected outcome %v", id, receiver, claim)
	}

	attempts, retry, sendErr := s.send(ctx, log, nt, n)

	// The outcome is recorded even if ctx has just ended: a send that
	// happened must not be repeated, and a failed one must not wait out the
	// lease before a retry may send.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if sendErr != nil && retry && !at.final {
		if err := s.Ledger.Release(rctx, id, receiver, until); err != nil {
			log.Error("release claim; a retry must wait for the lease to lapse", "err", err)
		}
		le := &laterError{err: fmt.Errorf("deliver %s to %s (%d attempts): %w", id, receiver, attempts, sendErr)}
		var ra *RetryAfterError
		if errors.As(sendErr, &ra) {
			le.after = ra.After
		}
		log.Warn("delivery failed; will retry", "attempts", attempts, "err", sendErr)
		return le
	}
	if sendErr != nil {
		log.Error("delivery failed", "attempts", attempts, "err", sendErr)
		d := DeadLetter{GroupKey: n.GroupKey, Receiver: receiver, Phase: n.Phase, Error: sendErr.Error(), At: s.now().UTC()}
		for _, f := range n.Failures {
			d.Failures = append(d.Failures, f.ID)
		}
		if err := s.Dead.SendJSON(rctx, d); err != nil {
			if rerr := s.Ledger.Release(rctx, id, receiver, until); rerr != nil {
				log.Error("release claim; a retry must wait for the lease to lapse", "err", rerr)
			}
			return fmt.Errorf("deliver %s to %s (%d attempts): %w; and keep it in the dead-letter queue: %w", id, receiver, attempts, sendErr, err)
		}
		if s.Metrics != nil {
			s.Metrics.Count(MetricUndeliverable, 1, nil)
		}
		if s.Notes != nil {
			note := fmt.Sprintf("Notification %s to %s could not be delivered after %d attempts (%s); it is on the notify dead-letter queue.", n.Phase, receiver, attempts, Shorten(sendErr.Error(), 300))
			for _, f := range n.Failures {
				if err := s.Notes.Note(rctx, f.ID, note, s.now()); err != nil {
					log.Error("record undeliverable notification on the failure", "failure_id", f.ID, "err", err)
				}
			}
		}
		// Parked in the dead-letter queue: recorded as handled, so the next
		// flush does not send it again on top of an operator's replay.
		if err := s.Ledger.MarkSent(rctx, id, receiver, s.now()); err != nil {
			log.Error("record dead-lettered delivery", "err", err)
		}
		log.Error("notification sent to the dead-letter queue", "attempts", attempts)
		return nil
	}
	if err := s.Ledger.MarkSent(rctx, id, receiver, s.now()); err != nil {
		// The message went out. Failing the delivery would make a later run
		// send it again once the lease lapses, so log and carry on.
		log.Error("record delivery; a later run after the lease would send again", "err", err)
	}
	log.Info("delivered", "attempts", attempts, "failures", len(n.Failures))
	return nil
}

// send calls n until it succeeds, says retrying is pointless, or the backoff
// is exhausted; retry reports whether a later try could succeed.
func (s *Service) send(ctx context.Context, log *slog.Logger, nt Notifier, n Notification) (attempts int, retry bool, err error) {
	b := s.backoff()
	delay := b.Initial
	for attempt := 1; ; attempt++ {
		retry, err := nt.Notify(ctx, n)
		if err == nil {
			return attempt, false, nil
		}
		if !retry || attempt >= b.Attempts {
			return attempt, retry, err
		}
		wait := jitter(delay)
		var ra *RetryAfterError
		if errors.As(err, &ra) && ra.After > wait {
			wait = ra.After
		}
		if wait > b.Max {
			return attempt, true, fmt.Errorf("receiver asks to wait %s, longer than this delivery waits: %w", wait, err)
		}
		// Deadlines are wall-clock, so this compares against the real clock
		// rather than s.Now.
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return attempt, true, fmt.Errorf("no time left to wait %s and retry: %w", wait, err)
		}
		log.Warn("send failed, retrying", "attempt", attempt, "wait", wait, "err", err)
		if werr := s.sleep(ctx, wait); werr != nil {
			return attempt, true, fmt.Errorf("%w (while waiting to retry after: %w)", werr, err)
		}
		delay = min(2*delay, b.Max)
	}
}

func (s *Service) retryFor() time.Duration {
	if s.RetryFor > 0 {
		return s.RetryFor
	}
	return DefaultRetryFor
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
