package metric

import (
	"sort"
	"strconv"
	"time"

	"github.com/ocxhq/ocx/events"
)

// Counter families and their fields.
const (
	// FamilyVolume counts interactions ("n") by channel, type and
	// customer attributes.
	FamilyVolume = "volume"
	// FamilyContacts counts contacts the customer started ("contacts"),
	// those that repeated one within ContactWindow ("repeat"), those whose
	// previous contact was on another channel ("hop") and those followed by
	// another within ContactWindow ("followed").
	FamilyContacts = "contact"
	// FamilyJourneys counts journey instances by journey, stage and team:
	// "started", "reached" (first entry into the stage), "completed",
	// "abandoned", "failed" (first failure of the instance) and the time
	// spent in the stage (sketch StageTime).
	FamilyJourneys = "journey"
	// FamilyFailures counts failures by rule, team, severity, channel and
	// journey: "detected", "acknowledged", "resolved", with the times to
	// acknowledge and resolve (sketches TimeToAcknowledge, TimeToResolve),
	// all in the slot the failure was detected in.
	FamilyFailures = "failure"
)

// Sketches.
const (
	StageTime         Sketch = "stage"
	TimeToAcknowledge Sketch = "tta"
	TimeToResolve     Sketch = "ttr"
)

// ScoreFamily is the family of a survey's answers: one field per score
// (ScoreField), by channel and customer attributes.
func ScoreFamily(survey string) string { return "score." + survey }

// Deltas returns what an interaction adds to the volume and score
// families. Contacts need the customer's history: see Contacts.Add.
func (in *Interaction) Deltas() []Delta {
	slot := Slot(in.At)
	dims := in.dims()
	dims["type"] = in.Type
	out := []Delta{{Family: FamilyVolume, Start: slot, Dims: dims.Encode(), Fields: Fields{"n": 1}}}
	if in.Survey != "" {
		out = append(out, Delta{Family: ScoreFamily(in.Survey), Start: slot, Dims: in.dims().Encode(), Fields: Fields{ScoreField(in.Score): 1}})
	}
	return out
}

func (in *Interaction) dims() Dims {
	d := Dims{"channel": in.Channel}
	for k, v := range in.Attributes {
		d[k] = v
	}
	return d
}

// ContactWindow is how soon another contact makes one a repeat (and the
// earlier one not resolved at first contact). Seven days is the usual
// first-contact-resolution window in contact centres.
const ContactWindow = 7 * 24 * time.Hour

// ContactMemory is how far back a customer's contacts are remembered, so
// a contact that arrives late (up to ContactMemory − ContactWindow) still
// finds the contacts around it.
const ContactMemory = 30 * 24 * time.Hour

// maxContacts bounds one customer's remembered contacts (an automated
// sender must not grow the record without limit).
const maxContacts = 100

// Contact is one remembered contact.
type Contact struct {
	ID       string    `json:"id"`
	At       time.Time `json:"at"`
	Channel  string    `json:"channel"`
	Dims     string    `json:"dims"`
	Followed bool      `json:"followed,omitempty"`
}

func (c Contact) before(o Contact) bool {
	if !c.At.Equal(o.At) {
		return c.At.Before(o.At)
	}
	return c.ID < o.ID
}

// Contacts is one customer's recent contacts, oldest first.
type Contacts struct {
	List []Contact `json:"contacts"`
}

// Add records a contact and returns the counter changes: its own, and the
// corrections it causes when it arrives late between two contacts (the
// next one becomes a repeat, or repeats a different channel, and this one
// is followed). Arrival order does not change the totals: adding contacts
// in any order gives the counts of adding them in time order.
func (h *Contacts) Add(in *Interaction) []Delta {
	x := Contact{ID: in.ID, At: in.At, Channel: in.Channel, Dims: in.dims().Encode()}
	for _, c := range h.List {
		if c.ID == x.ID {
			return nil
		}
	}
	i := sort.Search(len(h.List), func(i int) bool { return x.before(h.List[i]) })
	h.List = append(h.List, Contact{})
	copy(h.List[i+1:], h.List[i:])
	h.List[i] = x

	var out []Delta
	add := func(c Contact, field string, v int64) {
		if v != 0 {
			out = append(out, Delta{Family: FamilyContacts, Start: Slot(c.At), Dims: c.Dims, Fields: Fields{field: v}})
		}
	}
	add(x, "contacts", 1)
	var prev *Contact
	if i > 0 && x.At.Sub(h.List[i-1].At) <= ContactWindow {
		prev = &h.List[i-1]
		add(x, "repeat", 1)
		if prev.Channel != x.Channel {
			add(x, "hop", 1)
		}
		if !prev.Followed {
			prev.Followed = true
			add(*prev, "followed", 1)
		}
	}
	if i+1 < len(h.List) && h.List[i+1].At.Sub(x.At) <= ContactWindow {
		next := h.List[i+1]
		h.List[i].Followed = true
		add(x, "followed", 1)
		wasRepeat := i > 0 && next.At.Sub(h.List[i-1].At) <= ContactWindow
		wasHop := wasRepeat && h.List[i-1].Channel != next.Channel
		if !wasRepeat {
			add(next, "repeat", 1)
		}
		add(next, "hop", b2i(next.Channel != x.Channel)-b2i(wasHop))
	}
	h.prune()
	return Merge(out)
}

func (h *Contacts) prune() {
	if len(h.List) == 0 {
		return
	}
	cut := h.List[len(h.List)-1].At.Add(-ContactMemory)
	i := sort.Search(len(h.List), func(i int) bool { return !h.List[i].At.Before(cut) })
	i = max(i, len(h.List)-maxContacts)
	h.List = h.List[i:]
}

// Until is when the record can be forgotten.
func (h *Contacts) Until() time.Time {
	if len(h.List) == 0 {
		return time.Time{}
	}
	return h.List[len(h.List)-1].At.Add(ContactMemory)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Instance is what the metrics remember of one journey instance: the
// stages it reached (so the funnel counts each instance once per stage),
// when it entered stages it has not left yet, exits seen before their
// entry (bus events may arrive out of order), and whether it has failed.
type Instance struct {
	Team    string               `json:"team,omitempty"`
	Reached []string             `json:"reached,omitempty"`
	Entered map[string]time.Time `json:"entered,omitempty"`
	Exited  map[string]time.Time `json:"exited,omitempty"`
	Failed  bool                 `json:"failed,omitempty"`
	// Folds says the record is the dedupe marker of the journey events
	// counted into it: Counted holds their digests. Records written before
	// it did rely on a marker item per event, and still do.
	Folds   bool     `json:"folds,omitempty"`
	Counted []string `json:"counted,omitempty"`
}

func (s *Instance) dims(journey, stage, team string) string {
	if team == "" {
		team = s.Team
	}
	return Dims{"journey": journey, "stage": stage, "team": team}.Encode()
}

// Step records a journey event and returns its counter changes.
func (s *Instance) Step(j *JourneyStep) []Delta {
	if j.Team != "" {
		s.Team = j.Team
	}
	var out []Delta
	count := func(stage, field string, at time.Time) {
		out = append(out, Delta{Family: FamilyJourneys, Start: Slot(at), Dims: s.dims(j.Journey, stage, j.Team), Fields: Fields{field: 1}})
	}
	spent := func(stage string, from, to time.Time) {
		out = append(out, Delta{Family: FamilyJourneys, Start: Slot(to), Dims: s.dims(j.Journey, stage, j.Team), Fields: StageTime.Observe(to.Sub(from))})
	}
	reach := func(stage string, at time.Time) {
		for _, r := range s.Reached {
			if r == stage {
				return
			}
		}
		s.Reached = append(s.Reached, stage)
		count(stage, "reached", at)
	}
	enter := func(stage string, at time.Time) {
		if x, ok := s.Exited[stage]; ok && !x.Before(at) {
			spent(stage, at, x)
			delete(s.Exited, stage)
			return
		}
		if s.Entered == nil {
			s.Entered = map[string]time.Time{}
		}
		s.Entered[stage] = at
	}
	switch j.Type {
	case events.TypeJourneyStarted:
		count(j.Stage, "started", j.At)
		reach(j.Stage, j.EnteredAt)
		enter(j.Stage, j.EnteredAt)
	case events.TypeJourneyStageChanged:
		if p := j.PreviousStage; p != "" && j.ExitedAt != nil {
			x := j.ExitedAt.UTC()
			e, known := s.Entered[p]
			if j.PreviousEnteredAt != nil {
				e, known = j.PreviousEnteredAt.UTC(), true
			}
			switch {
			case known && !x.Before(e):
				spent(p, e, x)
				delete(s.Entered, p)
			case !known:
				if s.Exited == nil {
					s.Exited = map[string]time.Time{}
				}
				s.Exited[p] = x
			}
		}
		reach(j.Stage, j.EnteredAt)
		enter(j.Stage, j.EnteredAt)
	case events.TypeJourneyCompleted, events.TypeJourneyAbandoned:
		field := "completed"
		if j.Type == events.TypeJourneyAbandoned {
			field = "abandoned"
		}
		count(j.Stage, field, j.At)
		if j.ExitedAt != nil && !j.ExitedAt.Before(j.EnteredAt) {
			spent(j.Stage, j.EnteredAt, j.ExitedAt.UTC())
		}
		delete(s.Entered, j.Stage)
	}
	return Merge(out)
}

// Fail records a failure detected about the instance: the first one makes
// it a failed instance.
func (s *Instance) Fail(f *FailureStep) []Delta {
	if s.Failed || f.Type != events.TypeFailureDetected {
		return nil
	}
	s.Failed = true
	return []Delta{{Family: FamilyJourneys, Start: Slot(f.DetectedAt), Dims: s.dims(f.Journey, f.Stage, f.JourneyTeam), Fields: Fields{"failed": 1}}}
}

// Deltas returns what a failure event adds to the failure family, in the
// slot the failure was detected in: MTTA and MTTR are figures of the
// failures detected in a period.
func (f *FailureStep) Deltas() []Delta {
	d := Delta{Family: FamilyFailures, Start: Slot(f.DetectedAt), Fields: Fields{},
		Dims: Dims{"rule": f.Rule, "team": f.Team, "severity": f.Severity, "channel": f.Channel, "journey": f.Journey}.Encode()}
	switch f.Type {
	case events.TypeFailureDetected:
		d.Fields["detected"] = 1
	case events.TypeFailureAcknowledged:
		if f.AcknowledgedAt == nil {
			return nil
		}
		d.Fields["acknowledged"] = 1
		d.Fields.Add(TimeToAcknowledge.Observe(f.AcknowledgedAt.Sub(f.DetectedAt)))
	case events.TypeFailureResolved:
		if f.ResolvedAt == nil {
			return nil
		}
		d.Fields["resolved"] = 1
		d.Fields.Add(TimeToResolve.Observe(f.ResolvedAt.Sub(f.DetectedAt)))
	default:
		return nil
	}
	return []Delta{d}
}

// InstanceKey names a journey instance's record.
func InstanceKey(journey, instance string) string { return journey + "#" + instance }

// scoreOf parses a ScoreField name.
func scoreOf(field string) (int, bool) {
	if len(field) < 2 || field[0] != 's' {
		return 0, false
	}
	s, err := strconv.Atoi(field[1:])
	return s, err == nil
}
