// Package notify tells teams about failures: it puts each detected failure
// into its groups (internal/dispatch), and a scheduled flush sends each group
// that came due as one message per receiver, with silences, inhibition,
// quiet hours and escalation applied, each exactly once.
//
// The shape follows Alertmanager's notify package: each integration is a
// small Notifier that says whether a failed send is worth retrying, so retry
// and backoff stay generic here. A Ledger makes delivery exactly-once per
// (group, receiver, phase) across Lambda retries and duplicate events.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/team"
)

// Notifier sends one notification to one team through one integration.
type Notifier interface {
	// Name identifies the integration ("slack", "email"); it is part of the
	// receiver name the Ledger records deliveries under.
	Name() string
	// Notify sends n to n.Team. When it fails, retry says whether trying
	// again could succeed (a rate limit or an outage) or not (a rejected
	// payload, a missing secret).
	Notify(ctx context.Context, n Notification) (retry bool, err error)
}

// Selective is implemented by a Notifier that only some teams use, such as
// email for a team with no addresses. The Service skips it for teams it does
// not serve, without touching the Ledger, so the ledger never records a
// delivery that did not happen.
type Selective interface {
	Serves(t team.Team) bool
}

// Claim is the outcome of asking the Ledger for the right to send.
type Claim int

const (
	// Granted means this attempt holds the lease and should send.
	Granted Claim = iota + 1
	// AlreadySent means an earlier attempt delivered; there is nothing to do.
	AlreadySent
	// Held means another attempt holds an unexpired lease and may be sending
	// right now. This attempt must not send, and must not report success
	// either: if the holder dies, only a later retry can deliver.
	Held
)

func (c Claim) String() string {
	switch c {
	case Granted:
		return "granted"
	case AlreadySent:
		return "already sent"
	case Held:
		return "held"
	}
	return fmt.Sprintf("Claim(%d)", int(c))
}

// Ledger records deliveries so each (delivery, receiver) is sent once; a
// delivery is one phase of one group, named by DeliveryID.
//
// The protocol is claim, send, then mark sent or release. A claim is a lease:
// if the attempt holding it dies without releasing, the lease lapses and a
// later attempt may claim again.
type Ledger interface {
	// Claim reserves the delivery until leaseUntil, unless it was already
	// sent or another attempt holds a lease that has not expired by now.
	Claim(ctx context.Context, delivery, receiver string, now, leaseUntil time.Time) (Claim, error)
	// MarkSent records that the delivery happened.
	MarkSent(ctx context.Context, delivery, receiver string, sentAt time.Time) error
	// Release gives up the claim taken with leaseUntil, so a retry may send.
	// A claim since taken over by another attempt is left alone.
	Release(ctx context.Context, delivery, receiver string, leaseUntil time.Time) error
}

// Receiver is the name deliveries of notifier n to team t are recorded
// under, e.g. "cx-support/slack". It names the team as well as the
// integration so that routing one failure to several teams stays
// exactly-once per team.
func Receiver(t team.Team, n Notifier) string { return t.ID + "/" + n.Name() }

// ErrUnknownTeam is returned when a group names a team that is not
// configured. Retrying cannot help; the configuration must change.
var ErrUnknownTeam = errors.New("unknown team")

// ErrInFlight is returned for a receiver whose delivery another attempt is
// making. A retry later either finds it sent or finds the lease lapsed.
var ErrInFlight = errors.New("delivery in progress in another attempt")

// RetryAfterError is a retryable failure for which the receiver said how long
// to wait (an HTTP Retry-After). The Service waits at least that long before
// trying again, or gives up when the wait would exceed its limits.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// Kinds of notification.
const (
	Firing    = "firing"
	Resolved  = "resolved"
	Escalated = "escalated"
)

// Notification is one message about one group to one team.
type Notification struct {
	// GroupKey names the group; Slack buttons carry it.
	GroupKey string
	// Kind is Firing, Resolved or Escalated; Phase numbers it within the
	// group ("firing#2", "resolved", "escalated#1") and makes it exactly-once.
	Kind  string
	Phase string
	// Team receives the notification. For an escalation Owner is the team
	// that did not acknowledge in time.
	Team  team.Team
	Owner string
	// Labels are the group's group_by labels and their values.
	Labels map[string]string
	// Failures are what the message lists, oldest first.
	Failures []events.Failure
	// Muted counts the group's failures held back by silences or inhibition.
	Muted int
}

// DeliveryID names one phase of one group in the Ledger.
func DeliveryID(groupKey, phase string) string { return "group:" + groupKey + ":" + phase }
