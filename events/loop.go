package events

import "time"

// Closed-loop event types (source ocx.rules): what happened after a failure
// was detected. Their detail is a FailureLoop.
const (
	// TypeFailureFollowedUp: the team reached the customer (an agent reply,
	// an outbound message, a ticket comment, a console or Slack action).
	TypeFailureFollowedUp = "failure.followed_up"
	// TypeFailureEscalated: nobody reached the customer by the rule's
	// follow-up deadline.
	TypeFailureEscalated = "failure.escalated"
	// TypeFailureOutcome: OCX decided whether the customer recovered or
	// churned after the failure.
	TypeFailureOutcome = "failure.outcome"
)

// Outcomes of a failure for its customer.
const (
	OutcomeRecovered = "recovered"
	OutcomeChurned   = "churned"
)

// FailureLoop is a failure's closed loop: who owns it, whether and when the
// team reached the customer, the help-desk ticket, and the outcome.
type FailureLoop struct {
	FailureID  string    `json:"failure_id"`
	RuleID     string    `json:"rule_id"`
	Team       string    `json:"team"`
	Severity   string    `json:"severity"`
	Channel    string    `json:"channel,omitempty"`
	Journey    string    `json:"journey,omitempty"`
	CustomerID string    `json:"customer_id,omitempty"`
	DetectedAt time.Time `json:"detected_at"`
	// TicketID is the help-desk ticket created for the failure.
	TicketID string `json:"ticket_id,omitempty"`
	// FollowUpDue is when the team must have reached the customer by.
	FollowUpDue time.Time `json:"follow_up_due,omitzero"`
	// FollowedUpAt is when the team first reached the customer, and how.
	FollowedUpAt time.Time `json:"followed_up_at,omitzero"`
	FollowedUpBy string    `json:"followed_up_by,omitempty"`
	EscalatedAt  time.Time `json:"escalated_at,omitzero"`
	ResolvedAt   time.Time `json:"resolved_at,omitzero"`
	// DecideBy ends the recovery window.
	DecideBy  time.Time `json:"decide_by"`
	Outcome   string    `json:"outcome,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	// Closed is true when the team reached the customer and resolved the
	// failure before the outcome was decided.
	Closed bool `json:"closed,omitempty"`
}
