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
	// SourceIntake carries the ingest function's facts about its own
	// intake, kept apart from interactions so nothing counts them as one.
	SourceIntake = "ocx.intake"
	// SourceOutbound carries the API's requests to the outbound function
	// (replays of webhook deliveries); nothing else consumes them.
	SourceOutbound = "ocx.outbound"
)

// TypeOutboundReplay is the API's request (source SourceOutbound) that the
// outbound function try the deliveries it reopened. It is named here, not
// only in internal/outbound, because the outbound function's bus rule
// (internal/topology) routes it.
const TypeOutboundReplay = "outbound.replay"

// Event types used by name in code. Interaction types are open-ended (any
// "noun.verb" a channel sends); these are the ones OCX itself interprets.
const (
	TypeSurveyResponded = "survey.responded"
	TypeFailureDetected = "failure.detected"
	TypeIntakeTallied   = "intake.tallied"
)

// IntakeTally is what one ingest environment saw of one channel in one
// minute (detail-type intake.tallied, source ocx.intake): requests by
// outcome, items by fate, and the last accepted delivery. Several
// environments running at once each publish their own tally of a minute;
// a reader sums them.
type IntakeTally struct {
	ID      string `json:"id"`
	Channel string `json:"channel"`
	// OccurredAt is the minute's start (UTC), so rules window tallies by it.
	OccurredAt time.Time `json:"occurred_at"`
	// Instance names the environment that counted.
	Instance string `json:"instance"`
	// Requests by outcome; a count of zero is left out.
	Accepted          int `json:"accepted,omitempty"`
	Duplicate         int `json:"duplicate,omitempty"`
	RejectedSignature int `json:"rejected_signature,omitempty"`
	RejectedOther     int `json:"rejected_other,omitempty"`
	// Unavailable counts OCX's own refusals: 503 (a dependency failed or
	// was slow) and 409 (a redelivery met an attempt in progress).
	Unavailable int `json:"unavailable,omitempty"`
	// Items of accepted requests by fate: published as events, ignored on
	// purpose, quarantined as bad rows (a refused request's kept copy too).
	Events      int `json:"events,omitempty"`
	Ignored     int `json:"ignored,omitempty"`
	Quarantined int `json:"quarantined,omitempty"`
	// LastAcceptedAt is the last accepted (or duplicate) delivery's arrival.
	LastAcceptedAt time.Time `json:"last_accepted_at,omitzero"`
}

// Customer carries whatever identity keys the channel supplied. At least one
// is present on every interaction.
type Customer struct {
	ID    string `json:"id,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	// Refs name the channel's objects that belong to this customer alone,
	// as "<object>:<id>" (a Stripe charge "charge:ch_…", a Shopify order
	// "order:450789469"). An event that names such an object and no person
	// (a dispute names only its charge) joins the customer through it.
	Refs []string `json:"refs,omitempty"`
}

// Empty reports whether no identity key is set.
func (c Customer) Empty() bool {
	return c.ID == "" && c.Email == "" && c.Phone == "" && len(c.Refs) == 0
}

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
	// ClaimCheck, when set, points to the whole event in the archive: it
	// was too large for one bus entry, so it travels with its largest
	// attributes left out (the claim-check pattern). Consumers that need
	// every attribute read it from there.
	ClaimCheck string `json:"claim_check,omitempty"`
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
	// Key is what the rule keyed the failure on: the customer for
	// per-customer rules, the order or ticket for absence rules, the
	// dimension (e.g. "channel=sendgrid") for rate rules.
	Key string `json:"key,omitempty"`
	// Summary says in one line what was measured, e.g. "3 matching events
	// within 168h0m0s" or "bounce ratio 0.12 (6 of 50) over 15m0s".
	Summary string `json:"summary,omitempty"`
	// State is open, acknowledged or resolved; History lists every step,
	// the opening first.
	State   string        `json:"state,omitempty"`
	History []FailureStep `json:"history,omitempty"`
	// Occurrences counts how often the condition was met for Key while the
	// rule's cooldown held further failures back, the first included.
	Occurrences int       `json:"occurrences,omitempty"`
	LastSeenAt  time.Time `json:"last_seen_at,omitzero"`
	// Policy is what the raising rule asked of the failure's loop, as the
	// rule stood when it raised it; nil asks nothing. It travels with the
	// failure so whoever closes the loop needs no copy of the rules.
	Policy *LoopPolicy `json:"loop_policy,omitempty"`
}

// LoopPolicy is what a rule asks of its failures' loops: actions (e.g.
// "zendesk_ticket") and, in whole seconds, the follow-up deadline, the
// recovery window, the acknowledgement reminder and the quiet period
// after which the failure resolves itself. Zero asks nothing.
type LoopPolicy struct {
	Actions               []string `json:"actions,omitempty"`
	FollowUpSeconds       int64    `json:"follow_up_seconds,omitempty"`
	RecoveryWindowSeconds int64    `json:"recovery_window_seconds,omitempty"`
	AckReminderSeconds    int64    `json:"ack_reminder_seconds,omitempty"`
	AutoResolveSeconds    int64    `json:"auto_resolve_seconds,omitempty"`
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

// Journey event types: the detail-types of "ocx.journey" events.
const (
	TypeJourneyStarted      = "journey.started"
	TypeJourneyStageChanged = "journey.stage_changed"
	TypeJourneyCompleted    = "journey.completed"
	TypeJourneyAbandoned    = "journey.abandoned"
)

// Journey outcomes.
const (
	OutcomeCompleted = "completed"
	OutcomeAbandoned = "abandoned"
)

// JourneyEvent reports that one journey instance (one order, one ticket)
// started, entered a stage, completed or was abandoned. Detail of every
// "ocx.journey" event; the envelope's detail-type equals Type.
//
// Every event that enters a stage with an SLA carries SLADueAt: a consumer
// that has not seen the instance leave that stage by then knows it stalled.
// Its id, channel, occurred_at and customer fields read the same way as an
// Interaction's, so consumers that take evidence from interactions can take
// it from journey events too.
type JourneyEvent struct {
	// ID is deterministic per (journey, instance, type, stage, entered_at):
	// a redelivered cause publishes the same id.
	ID   string `json:"id"`
	Type string `json:"type"`
	// Journey is the definition's id, Instance the value of its instance
	// key (an order id, a ticket id).
	Journey    string `json:"journey"`
	Instance   string `json:"instance"`
	CustomerID string `json:"customer_id"`
	// Team owns the journey, when its definition names one.
	Team string `json:"team,omitempty"`
	// Stage is the stage entered (started, stage_changed) or the stage the
	// journey ended in (completed, abandoned).
	Stage         string `json:"stage"`
	PreviousStage string `json:"previous_stage,omitempty"`
	// EnteredAt is when Stage was entered; ExitedAt when the previous stage
	// (stage_changed) or Stage (completed, abandoned) was left.
	EnteredAt time.Time  `json:"entered_at"`
	ExitedAt  *time.Time `json:"exited_at,omitempty"`
	// PreviousEnteredAt is when PreviousStage was entered (stage_changed):
	// with ExitedAt it says how long the previous stage was held, which a
	// consumer that sees the events out of order cannot otherwise know.
	PreviousEnteredAt *time.Time `json:"previous_entered_at,omitempty"`
	// SLADueAt is when Stage must be left by, if it has an SLA.
	SLADueAt *time.Time `json:"sla_due_at,omitempty"`
	Outcome  string     `json:"outcome,omitempty"`
	// OccurredAt is the time of the transition (the cause's occurred_at).
	OccurredAt time.Time `json:"occurred_at"`
	// EventID is the interaction that caused the transition, Channel its
	// channel and Customer the identity it carried.
	EventID  string   `json:"event_id"`
	Channel  string   `json:"channel"`
	Customer Customer `json:"customer"`
}

// Failure lifecycle event types. Their detail is the Failure record after
// the change, with State and History saying what happened.
const (
	TypeFailureAcknowledged = "failure.acknowledged"
	TypeFailureResolved     = "failure.resolved"
)

// FailureStep is one step of a failure's lifecycle: who moved it to which
// state, when, and why.
type FailureStep struct {
	State string    `json:"state"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
	Note  string    `json:"note,omitempty"`
}
