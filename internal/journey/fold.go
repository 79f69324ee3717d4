package journey

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
)

// Outcomes of an instance. Pending instances have seen only an ending
// (a payment succeeded, a ticket solved) without a start; they are kept
// briefly in case the start arrives late, and are not shown or announced.
const (
	OutcomePending   = "pending"
	OutcomeOpen      = "open"
	OutcomeCompleted = events.OutcomeCompleted
	OutcomeAbandoned = events.OutcomeAbandoned
)

// MaxSteps bounds what one instance remembers; a journey is a handful of
// transitions, and a runaway sender must not grow an item past DynamoDB's
// 400 KB.
const MaxSteps = 200

// Ref names one journey instance.
type Ref struct {
	Journey  string
	Instance string
}

// Step is one applied event that matched a journey pattern. State is
// always recomputed from the steps, so the order events arrive in does not
// matter: only their occurred_at does.
type Step struct {
	EventID string    `json:"e"`
	At      time.Time `json:"t"`
	Kind    string    `json:"k"`
	Stage   string    `json:"s,omitempty"`
	Channel string    `json:"c,omitempty"`
}

// Visit is one stay in a stage.
type Visit struct {
	Stage     string     `json:"stage"`
	EnteredAt time.Time  `json:"entered_at"`
	ExitedAt  *time.Time `json:"exited_at,omitempty"`
	SLADueAt  *time.Time `json:"sla_due_at,omitempty"`
	// EventID entered the stage.
	EventID string `json:"event_id"`
	Channel string `json:"channel,omitempty"`
}

// State is an instance's position, derived from its steps.
type State struct {
	Outcome   string     `json:"outcome"`
	Stage     string     `json:"stage,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// SLADueAt is when the current stage must be left by (open instances
	// in a stage with an SLA).
	SLADueAt *time.Time `json:"sla_due_at,omitempty"`
	History  []Visit    `json:"history"`

	endEvent, endChannel string
}

// Instance is one journey instance (one order, one ticket).
type Instance struct {
	Journey  string
	Instance string
	// CustomerID is the customer the instance was started for. After a
	// merge the instance stays recorded under it; readers follow the merge.
	CustomerID string
	// Version is what the store read (0: new); writes are conditional on it.
	Version int64
	// StoredOutcome is the outcome the store read, so a store can tell
	// when an instance started or ended.
	StoredOutcome string
	Steps         []Step
	// Keys are the identity keys of every event applied, which decide
	// where the instance goes if a merge is undone.
	Keys      []identity.Key
	State     State
	UpdatedAt time.Time
	// ExpiresAt is when the store may drop the instance; zero keeps it.
	ExpiresAt time.Time
}

// Ref names the instance.
func (in *Instance) Ref() Ref { return Ref{Journey: in.Journey, Instance: in.Instance} }

// has reports whether an event was applied to the instance already.
func (in *Instance) has(eventID string) bool {
	for _, s := range in.Steps {
		if s.EventID == eventID {
			return true
		}
	}
	return false
}

// Fold computes an instance's state from its steps in occurred_at order.
// A stage step moves the instance forward only: a step into an earlier or
// the same stage changes nothing (a late event is history, never a move
// back). The first step ending the instance ends it; later steps do not
// reopen it. An ending timed before the first stage entry (clocks of two
// channels disagree) ends the instance as soon as it starts.
func Fold(d *Definition, steps []Step) State {
	sorted := append([]Step(nil), steps...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if !sorted[i].At.Equal(sorted[j].At) {
			return sorted[i].At.Before(sorted[j].At)
		}
		return sorted[i].EventID < sorted[j].EventID
	})
	st := State{Outcome: OutcomePending}
	cur := -1
	var early *Step
	end := func(s Step, at time.Time) {
		st.Outcome = OutcomeCompleted
		if s.Kind == StepAbandon {
			st.Outcome = OutcomeAbandoned
		}
		t := at
		st.EndedAt = &t
		st.History[len(st.History)-1].ExitedAt = &t
		st.endEvent, st.endChannel = s.EventID, s.Channel
	}
	for _, s := range sorted {
		if st.EndedAt != nil {
			break
		}
		switch s.Kind {
		case StepStage:
			i := d.index(s.Stage)
			if i <= cur {
				continue
			}
			at := s.At
			if cur >= 0 {
				st.History[len(st.History)-1].ExitedAt = &at
			} else {
				st.StartedAt = &at
				st.Outcome = OutcomeOpen
			}
			v := Visit{Stage: s.Stage, EnteredAt: at, EventID: s.EventID, Channel: s.Channel}
			if sla := d.Stages[i].SLA; sla > 0 {
				due := at.Add(sla)
				v.SLADueAt = &due
			}
			st.History = append(st.History, v)
			cur = i
			if early != nil {
				end(*early, at)
			}
		case StepComplete, StepAbandon:
			if cur < 0 {
				if early == nil {
					e := s
					early = &e
				}
				continue
			}
			end(s, s.At)
		}
	}
	if cur >= 0 {
		last := st.History[len(st.History)-1]
		st.Stage = last.Stage
		if st.EndedAt == nil {
			st.SLADueAt = last.SLADueAt
		}
	}
	return st
}

// Transitions are the journey events that announce the difference between
// two states of one instance: a start, the stages entered since, a
// correction of the current stage's entry time, an ending. History that a
// late event rewrote behind the current stage is recorded, not announced:
// nothing downstream acts on stages already left. Every event entering a
// stage carries that stage's SLA due time, even when the same batch of
// history shows it left again; the events that follow say so.
func Transitions(d *Definition, inst string, old, now State) []events.JourneyEvent {
	if now.Outcome == OutcomePending || old.Outcome == OutcomeCompleted || old.Outcome == OutcomeAbandoned {
		return nil
	}
	var out []events.JourneyEvent
	h := now.History
	if old.Outcome == OutcomePending {
		out = append(out, enter(d, inst, events.TypeJourneyStarted, h[0], nil))
		for i := 1; i < len(h); i++ {
			out = append(out, enter(d, inst, events.TypeJourneyStageChanged, h[i], &h[i-1]))
		}
	} else {
		prev := d.index(old.Stage)
		oldLast := old.History[len(old.History)-1]
		for i, v := range h {
			switch {
			case d.index(v.Stage) > prev && i == 0:
				// A late event placed the whole journey beyond the stage
				// announced so far: that stage is left as of this entry.
				left := Visit{Stage: old.Stage, EnteredAt: oldLast.EnteredAt, ExitedAt: &h[0].EnteredAt}
				out = append(out, enter(d, inst, events.TypeJourneyStageChanged, v, &left))
			case d.index(v.Stage) > prev:
				out = append(out, enter(d, inst, events.TypeJourneyStageChanged, v, &h[i-1]))
			case v.Stage == oldLast.Stage && !v.EnteredAt.Equal(oldLast.EnteredAt) && i == len(h)-1 && now.EndedAt == nil:
				// Still in the same stage, but a late event moved its entry
				// earlier, so its SLA falls due earlier: say so again.
				if i == 0 {
					out = append(out, enter(d, inst, events.TypeJourneyStarted, v, nil))
				} else {
					out = append(out, enter(d, inst, events.TypeJourneyStageChanged, v, &h[i-1]))
				}
			}
		}
	}
	if now.EndedAt != nil {
		last := h[len(h)-1]
		typ := events.TypeJourneyCompleted
		if now.Outcome == OutcomeAbandoned {
			typ = events.TypeJourneyAbandoned
		}
		ended := *now.EndedAt
		out = append(out, events.JourneyEvent{
			ID: eventID(d.ID, inst, typ, last.Stage, ended), Type: typ, Journey: d.ID, Instance: inst, Team: d.Team,
			Stage: last.Stage, EnteredAt: last.EnteredAt, ExitedAt: &ended, Outcome: now.Outcome,
			OccurredAt: ended, EventID: now.endEvent, Channel: now.endChannel,
		})
	}
	return out
}

// enter announces v being entered after prev (nil for a start).
func enter(d *Definition, inst, typ string, v Visit, prev *Visit) events.JourneyEvent {
	e := events.JourneyEvent{
		ID: eventID(d.ID, inst, typ, v.Stage, v.EnteredAt), Type: typ, Journey: d.ID, Instance: inst, Team: d.Team,
		Stage: v.Stage, EnteredAt: v.EnteredAt, SLADueAt: v.SLADueAt,
		OccurredAt: v.EnteredAt, EventID: v.EventID, Channel: v.Channel,
	}
	if prev != nil {
		e.PreviousStage = prev.Stage
		e.ExitedAt = prev.ExitedAt
		if !prev.EnteredAt.IsZero() {
			entered := prev.EnteredAt
			e.PreviousEnteredAt = &entered
		}
	}
	return e
}

// eventID is deterministic so a redelivered cause republishes the same ids.
func eventID(journey, inst, typ, stage string, at time.Time) string {
	sum := sha256.Sum256([]byte(journey + "\x00" + inst + "\x00" + typ + "\x00" + stage + "\x00" + at.UTC().Format(time.RFC3339Nano)))
	return "jev_" + hex.EncodeToString(sum[:13])
}
