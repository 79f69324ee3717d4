// Package events holds OCX's canonical event contracts: the Go types that
// travel on the EventBridge bus, their JSON Schemas and sample events.
//
// Every event on the bus is an EventBridge envelope whose "source" names the
// producing function and whose "detail-type" is the event type; "detail" is
// one of the types below.
package events

import "time"

// Sources: the "source" field of the envelope, one per producing function.
const (
	SourceIngest  = "ocx.ingest"
	SourceJourney = "ocx.journey"
	SourceRules   = "ocx.rules"
)

// Event types used by name in code. Interaction types are open-ended (any
// "noun.verb" a channel sends); these are the ones OCX itself interprets.
const (
	TypeSurveyResponded = "survey.responded"
	TypeFailureDetected = "failure.detected"
)

// Customer carries whatever identity keys the channel supplied. At least one
// is present on every interaction.
type Customer struct {
	ID    string `json:"id,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// Empty reports whether no identity key is set.
func (c Customer) Empty() bool { return c.ID == "" && c.Email == "" && c.Phone == "" }

// Interaction is one touch a customer had with the business on a channel,
// normalised from a webhook. Detail of every "ocx.ingest" event.
type Interaction struct {
	// ID is deterministic for a (channel, delivery, position) so a redelivered
	// webhook yields the same id and downstream writes stay idempotent.
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Channel    string         `json:"channel"`
	OccurredAt time.Time      `json:"occurred_at"`
	ReceivedAt time.Time      `json:"received_at"`
	Customer   Customer       `json:"customer"`
	Attributes map[string]any `json:"attributes"`
	// DeliveryID is the provider's id for the webhook delivery.
	DeliveryID string `json:"delivery_id"`
	// Raw points to the archived raw request this event came from.
	Raw string `json:"raw"`
}

// Failure is an operational failure a rule detected. Detail of
// "failure.detected".
type Failure struct {
	ID          string            `json:"id"`
	RuleID      string            `json:"rule_id"`
	Description string            `json:"description"`
	Severity    string            `json:"severity"`
	Team        string            `json:"team"`
	Runbook     string            `json:"runbook,omitempty"`
	CustomerID  string            `json:"customer_id,omitempty"`
	Labels      map[string]string `json:"labels"`
	DetectedAt  time.Time         `json:"detected_at"`
	Evidence    []Evidence        `json:"evidence"`
}

// Evidence is an event that contributed to a failure.
type Evidence struct {
	EventID    string         `json:"event_id"`
	Type       string         `json:"type"`
	Channel    string         `json:"channel"`
	OccurredAt time.Time      `json:"occurred_at"`
	Customer   Customer       `json:"customer"`
	Attributes map[string]any `json:"attributes,omitempty"`
}
