package metric

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
)

// This file is the one place that reads bus events: which fields of an
// interaction, a journey event or a failure the metrics use. When an
// event contract changes, this is what to adjust.

// Observation is what one bus event tells the metrics; exactly one of
// Interaction, Journey and Failure is set.
type Observation struct {
	// Key identifies the event across redeliveries: its type and the id in
	// its detail (failure.* events share the failure's id, so the type is
	// part of the key).
	Key         string
	Interaction *Interaction
	Journey     *JourneyStep
	Failure     *FailureStep
	// Loop is a failure's follow-up or outcome (internal/metric/loop.go).
	Loop *LoopStep
}

// Interaction is an interaction as the metrics see it.
type Interaction struct {
	ID, Type, Channel string
	At                time.Time
	Customer          events.Customer
	// Survey and Score are set for a survey answer on a scale OCX scores.
	Survey string
	Score  int
	// Contact is true for a contact the customer started: what repeat
	// contact, first-contact resolution and channel hops count.
	Contact bool
	// Attributes are the configured customer-attribute dimensions the
	// event carried (plan, region).
	Attributes map[string]string
}

// JourneyStep is a journey.* event.
type JourneyStep struct {
	Type, Journey, Instance, Team string
	// Stage is the stage entered (started, stage_changed) or ended in
	// (completed, abandoned); PreviousStage the one left by stage_changed.
	Stage, PreviousStage string
	At                   time.Time
	EnteredAt            time.Time
	// ExitedAt is when PreviousStage (stage_changed) or Stage (completed,
	// abandoned) was left.
	ExitedAt *time.Time
	// PreviousEnteredAt is when PreviousStage was entered, if the event
	// says; otherwise the instance's own record of its entries supplies it.
	PreviousEnteredAt *time.Time
}

// FailureStep is a failure.* event.
type FailureStep struct {
	Type, ID, Rule, Team, Severity, Channel string
	// Journey, Instance, Stage and JourneyTeam are set when the failure is
	// about a journey instance (its evidence is a journey event).
	Journey, Instance, Stage, JourneyTeam string
	DetectedAt                            time.Time
	AcknowledgedAt                        *time.Time
	ResolvedAt                            *time.Time
}

// contactTypes start a contact; call.completed only when the customer
// called (the same definition as the contact.repeat rule's).
var contactTypes = map[string]bool{
	"ticket.created": true, "conversation.opened": true, "message.received": true, "call.completed": true,
}

func isContact(typ string, attrs map[string]any) bool {
	if !contactTypes[typ] {
		return false
	}
	dir, _ := attrs["direction"].(string)
	return typ != "call.completed" || !strings.HasPrefix(dir, "outbound")
}

// Observe reads a bus event. attributes names the interaction attributes
// that are customer dimensions. ok is false for an event the metrics do
// not count (an unknown source or type).
func Observe(source, detailType, envelopeID string, detail []byte, attributes []string) (o Observation, ok bool, err error) {
	switch source {
	case events.SourceIngest:
		var ev events.Interaction
		if err := json.Unmarshal(detail, &ev); err != nil {
			return o, false, fmt.Errorf("decode interaction %s: %w", envelopeID, err)
		}
		o.Key = key(detailType, ev.ID, envelopeID)
		o.Interaction = ObserveInteraction(ev, attributes)
		return o, true, nil
	case events.SourceJourney:
		switch detailType {
		case events.TypeJourneyStarted, events.TypeJourneyStageChanged, events.TypeJourneyCompleted, events.TypeJourneyAbandoned:
		default:
			return o, false, nil
		}
		var ev struct {
			events.JourneyEvent
			PreviousEnteredAt *time.Time `json:"previous_entered_at"`
		}
		if err := json.Unmarshal(detail, &ev); err != nil {
			return o, false, fmt.Errorf("decode %s %s: %w", detailType, envelopeID, err)
		}
		if ev.Journey == "" || ev.Instance == "" || ev.Stage == "" {
			return o, false, fmt.Errorf("%s %s: journey, instance and stage are required", detailType, envelopeID)
		}
		o.Key = key(detailType, ev.ID, envelopeID)
		o.Journey = &JourneyStep{
			Type: detailType, Journey: ev.Journey, Instance: ev.Instance, Team: ev.Team,
			Stage: ev.Stage, PreviousStage: ev.PreviousStage,
			At: ev.OccurredAt.UTC(), EnteredAt: ev.EnteredAt.UTC(), ExitedAt: ev.ExitedAt, PreviousEnteredAt: ev.PreviousEnteredAt,
		}
		return o, true, nil
	case events.SourceRules:
		switch detailType {
		case events.TypeFailureDetected, events.TypeFailureAcknowledged, events.TypeFailureResolved:
		default:
			return observeLoop(detailType, envelopeID, detail)
		}
		var f events.Failure
		if err := json.Unmarshal(detail, &f); err != nil {
			return o, false, fmt.Errorf("decode %s %s: %w", detailType, envelopeID, err)
		}
		if f.DetectedAt.IsZero() {
			return o, false, fmt.Errorf("%s %s: no detected_at", detailType, envelopeID)
		}
		o.Key = key(detailType, f.ID, envelopeID)
		o.Failure = ObserveFailure(detailType, f)
		return o, true, nil
	}
	return o, false, nil
}

func key(detailType, id, envelopeID string) string {
	if id == "" {
		id = envelopeID
	}
	return detailType + "#" + id
}

// ObserveInteraction reads an interaction (from the bus or, for a
// backfill, from storage).
func ObserveInteraction(ev events.Interaction, attributes []string) *Interaction {
	in := &Interaction{
		ID: ev.ID, Type: ev.Type, Channel: ev.Channel, At: ev.OccurredAt.UTC(), Customer: ev.Customer,
		Contact: isContact(ev.Type, ev.Attributes),
	}
	if ev.Type == events.TypeSurveyResponded {
		survey, _ := ev.Attributes["survey"].(string)
		if score, ok := ev.Attributes["score"].(float64); ok && score == float64(int(score)) && InScale(survey, int(score)) {
			in.Survey, in.Score = survey, int(score)
		}
	}
	for _, a := range attributes {
		if v := scalar(ev.Attributes[a]); v != "" {
			if in.Attributes == nil {
				in.Attributes = map[string]string{}
			}
			in.Attributes[a] = v
		}
	}
	return in
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// ObserveFailure reads a failure record as the event detailType announcing
// it (from the bus or, for a backfill, from storage).
func ObserveFailure(detailType string, f events.Failure) *FailureStep {
	fs := &FailureStep{
		Type: detailType, ID: f.ID, Rule: f.RuleID, Team: f.Team, Severity: f.Severity,
		Channel: f.Labels["channel"], DetectedAt: f.DetectedAt.UTC(),
	}
	for _, st := range f.History {
		at := st.At.UTC()
		switch st.State {
		case "acknowledged":
			fs.AcknowledgedAt = &at
		case "resolved":
			fs.ResolvedAt = &at
		}
	}
	for _, ev := range f.Evidence {
		if !strings.HasPrefix(ev.Type, "journey.") {
			continue
		}
		fs.Journey = scalar(ev.Attributes["journey"])
		fs.Instance = scalar(ev.Attributes["instance"])
		fs.Stage = scalar(ev.Attributes["stage"])
		fs.JourneyTeam = scalar(ev.Attributes["team"])
	}
	return fs
}
