// Package outbound sends OCX's own events to the endpoints subscribed to
// them (infra/config/outbound.yaml): signed with the Standard Webhooks
// scheme, at least once, retried with exponential backoff and jitter for
// up to three days through the function's wake-ups, with every attempt
// recorded, endpoints disabled after a long run of failures and enabled
// again by an operator, and failed deliveries replayable.
//
// It knows nothing of AWS: the delivery log, the endpoints' state, the
// secrets, the wake-ups, the bus and the dead letters are ports.
package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ocxhq/ocx/internal/wakeup"
)

// Delivery statuses.
const (
	// StatusPending: not yet accepted; NextAttemptAt says when it is tried.
	StatusPending = "pending"
	// StatusDelivered: the endpoint answered 2xx.
	StatusDelivered = "delivered"
	// StatusFailed: given up after MaxAge, or its endpoint is disabled;
	// kept for replay.
	StatusFailed = "failed"
)

// Statuses lists every status, for validating a query.
var Statuses = []string{StatusPending, StatusDelivered, StatusFailed}

// Delivery is one event for one endpoint.
type Delivery struct {
	// ID is the webhook-id: the same on every attempt and replay, so a
	// receiver dedupes on it.
	ID        string `json:"id"`
	Endpoint  string `json:"endpoint"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	// Body is exactly what is sent (and signed).
	Body         json.RawMessage `json:"payload"`
	Status       string          `json:"status"`
	Attempts     int             `json:"attempts"`
	CreatedAt    time.Time       `json:"created_at"`
	RoundStarted time.Time       `json:"round_started_at"`
	// RoundBase is how many attempts came before the round began: the
	// backoff counts from the round's first attempt.
	RoundBase     int       `json:"-"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	DeliveredAt   time.Time `json:"delivered_at,omitzero"`
	FailedAt      time.Time `json:"failed_at,omitzero"`
	// LastStatus and LastError describe the latest attempt.
	LastStatus int    `json:"last_status,omitempty"`
	LastError  string `json:"last_error,omitempty"`
	Replays    int    `json:"replays,omitempty"`
}

// Attempt is one try of a delivery.
type Attempt struct {
	N  int       `json:"n"`
	At time.Time `json:"at"`
	// Status is the HTTP status, 0 when no answer came.
	Status    int    `json:"status"`
	LatencyMS int64  `json:"latency_ms"`
	Response  string `json:"response,omitempty"`
	Error     string `json:"error,omitempty"`
}

// MaxResponseExcerpt bounds the response body kept with an attempt.
const MaxResponseExcerpt = 1024

// Outcome is what an attempt changed on its delivery.
type Outcome struct {
	Status        string
	NextAttemptAt time.Time
	At            time.Time
	LastStatus    int
	LastError     string
}

// Settled is d as outcome o of attempt a (nil when o comes without one)
// leaves it.
func (d Delivery) Settled(a *Attempt, o Outcome) Delivery {
	if a != nil {
		d.Attempts = a.N
	}
	d.Status, d.LastStatus, d.LastError, d.NextAttemptAt = o.Status, o.LastStatus, o.LastError, o.NextAttemptAt
	switch o.Status {
	case StatusDelivered:
		d.DeliveredAt = o.At
	case StatusFailed:
		d.FailedAt = o.At
	}
	return d
}

// Query selects deliveries of one endpoint: delivered and failed ones
// newest first, pending ones latest due first.
type Query struct {
	Endpoint string
	Status   string // empty: any
	// DueBy, when set, selects pending deliveries due by then, soonest
	// first (Status is ignored).
	DueBy  time.Time
	Limit  int
	Cursor string
}

// ErrNotFound is returned for an unknown delivery or endpoint.
var ErrNotFound = errors.New("not found")

// ErrBadCursor is returned for a page token that does not decode.
var ErrBadCursor = errors.New("bad cursor")

// Deliveries is the delivery log.
type Deliveries interface {
	// CreateSettled records a new delivery d as its first attempt a (nil
	// for none) left it, o, in one write of the delivery (beside it the
	// attempt's record, written first), unless a delivery with d's id
	// exists, reporting whether it did.
	CreateSettled(ctx context.Context, d Delivery, a *Attempt, o Outcome) (bool, error)
	Get(ctx context.Context, id string) (Delivery, error)
	// Claim takes attempt n of a pending delivery that is due at now and
	// has made n-1 attempts, moving its next attempt to next; false when
	// another took it or it is not due.
	Claim(ctx context.Context, id string, n int, now, next time.Time) (bool, error)
	// Record keeps attempt a of d and applies its outcome.
	Record(ctx context.Context, d Delivery, a Attempt, o Outcome) error
	// Fail marks a pending delivery failed without an attempt.
	Fail(ctx context.Context, d Delivery, at time.Time, reason string) error
	// Reopen makes a delivered or failed delivery pending from now, for a
	// new round of MaxAge; false when it is pending already.
	Reopen(ctx context.Context, d Delivery, now time.Time) (bool, error)
	List(ctx context.Context, q Query) ([]Delivery, string, error)
	Attempts(ctx context.Context, id string) ([]Attempt, error)
}

// EndpointState is what OCX knows of an endpoint's health.
type EndpointState struct {
	ID                  string    `json:"-"`
	Disabled            bool      `json:"disabled"`
	DisabledAt          time.Time `json:"disabled_at,omitzero"`
	DisabledReason      string    `json:"disabled_reason,omitempty"`
	FailingSince        time.Time `json:"failing_since,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastSuccessAt       time.Time `json:"last_success_at,omitzero"`
	EnabledBy           string    `json:"enabled_by,omitempty"`
}

// Endpoints keeps the endpoints' state; an endpoint never seen is enabled
// and healthy.
type Endpoints interface {
	Get(ctx context.Context, id string) (EndpointState, error)
	// Failed counts a failed attempt at now and returns the state after.
	Failed(ctx context.Context, id string, now time.Time) (EndpointState, error)
	// Succeeded ends a run of failures.
	Succeeded(ctx context.Context, id string, now time.Time) error
	// Disable disables the endpoint; false when it already was.
	Disable(ctx context.Context, id string, now time.Time, reason string) (bool, error)
	// Enable enables it again and forgets its run of failures.
	Enable(ctx context.Context, id string, now time.Time, by string) error
}

// Secrets reads a subscription's signing secrets.
type Secrets interface {
	List(ctx context.Context, name string) ([]string, error)
}

// DeadLetters keeps what was finally given up (an SQS queue in AWS).
type DeadLetters interface {
	SendJSON(ctx context.Context, v any) error
}

// DeadLetter is a delivery given up after MaxAge.
type DeadLetter struct {
	DeliveryID string    `json:"outbound_delivery_id"`
	Endpoint   string    `json:"endpoint"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Attempts   int       `json:"attempts"`
	Error      string    `json:"error"`
	At         time.Time `json:"at"`
}

// Metrics counts what operators alarm on.
type Metrics interface {
	Count(name string, n int, dims map[string]string)
}

// Metric names.
const (
	// MetricUndeliverable counts deliveries given up after MaxAge.
	MetricUndeliverable = "OutboundUndeliverable"
	// MetricDisabled counts endpoints disabled for failing.
	MetricDisabled = "OutboundEndpointsDisabled"
	MetricAttempts = "OutboundAttempts"
)

var _ wakeup.Func = (*Service)(nil).Wake
