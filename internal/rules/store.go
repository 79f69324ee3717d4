package rules

import (
	"context"
	"errors"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/failure"
)

// ErrConflict: a state changed since it was loaded; load and evaluate
// again.
var ErrConflict = errors.New("rule state changed concurrently")

// StateKey names one rule's state for one key.
type StateKey struct {
	Rule string
	Key  string
}

// State is what a rule remembers about one key.
type State struct {
	// Version is the stored version: 0 for a key never written. A commit
	// succeeds only if the stored version is still the one loaded.
	Version int64 `json:"-"`
	// Events are the recent matching events (count, sequence), oldest first.
	Events []Entry `json:"events,omitempty"`
	// Pending is the starting event awaiting its follow-up (absence,
	// stall), due at Due.
	Pending *Entry `json:"pending,omitempty"`
	// Cleared is the time of the latest follow-up seen, ClearedBy its
	// event, so a start that arrives after its follow-up starts no timer.
	Cleared   time.Time `json:"cleared,omitzero"`
	ClearedBy string    `json:"cleared_by,omitempty"`
	// Held are the latest stages the follow-ups said were left (stall),
	// so a start evaluated after the follow-up that ended its own stage is
	// checked against when that stage was left.
	Held []Span `json:"held,omitempty"`
	// Unsettled are starts evaluated after a follow-up but before the one
	// that says when their own stage was left (stall), kept until it does.
	Unsettled []Start `json:"unsettled,omitempty"`
	// Due is a pending deadline: when the rule must look at the key again.
	Due time.Time `json:"due,omitzero"`
	// Watch is true while the rule must look at the key on every scheduled
	// run (a rate rule's open failure, which resolves when the window
	// empties even if no event comes).
	Watch bool `json:"watch,omitempty"`
	// Failure is the last failure raised for the key, Raised the time of
	// the condition that raised it (the cooldown's anchor).
	Failure string    `json:"failure,omitempty"`
	Raised  time.Time `json:"raised,omitzero"`
	// Open is true while Failure waits for its condition to clear (absence,
	// stall, rate).
	Open bool `json:"open,omitempty"`
	// Applied lists the latest events that changed the state, so that a
	// redelivered or retried event changes nothing.
	Applied []string `json:"applied,omitempty"`
	// Expires is when the state may be dropped: nothing in it matters after.
	Expires time.Time `json:"-"`
}

// Span is a stage held from Entered until Left.
type Span struct {
	Entered time.Time `json:"entered"`
	Left    time.Time `json:"left"`
}

// Start is a starting event with its deadline.
type Start struct {
	Entry
	Due time.Time `json:"due"`
}

// maxHeld bounds State.Held and State.Unsettled: a journey's events arrive out of order by
// moments, so the latest few stages left are all a late start can need.
const maxHeld = 4

// Entry is one event a state remembers, with the pattern role it matched.
type Entry struct {
	Role string `json:"role,omitempty"`
	events.Evidence
}

// Keyed is a state with its key.
type Keyed struct {
	StateKey
	State State
}

// Tally counts a rate rule's events for one key in one minute.
type Tally struct {
	Rule   string
	Key    string
	Minute time.Time
	// Bad counts events matching the rule's pattern, Total those matching
	// its "of" pattern.
	Bad, Total int64
	// Last is the latest bad event of the minute, kept as evidence.
	Last *events.Evidence
}

// Repeat is another occurrence of an existing failure held back by its
// rule's cooldown.
type Repeat struct {
	Failure string
	At      time.Time
}

// Commit is everything one evaluation writes, atomically.
type Commit struct {
	// States are written if their stored version is still State.Version.
	States   []Keyed
	Failures []events.Failure
	Repeats  []Repeat
	// Messages announce Failures; they go in the failure outbox.
	Messages []failure.Message
}

func (c Commit) empty() bool {
	return len(c.States) == 0 && len(c.Failures) == 0 && len(c.Repeats) == 0
}

// Store keeps rule state.
type Store interface {
	// Load returns the states of keys, consistently; a key never written
	// has the zero State.
	Load(ctx context.Context, keys []StateKey) (map[StateKey]State, error)
	// Commit writes c atomically, or returns ErrConflict and writes
	// nothing.
	Commit(ctx context.Context, c Commit) error
	// Count adds event to a rate rule's tally of its minute, once: counting
	// an event counted before changes nothing.
	Count(ctx context.Context, t Tally, event string) error
	// Due returns up to limit states whose Due is at or before now. The
	// listing may lag writes by a moment; Commit's version check catches
	// a stale entry.
	Due(ctx context.Context, now time.Time, limit int) ([]Keyed, error)
	// Upcoming returns up to limit states whose Due is after `after` and
	// at or before `through`, soonest first.
	Upcoming(ctx context.Context, after, through time.Time, limit int) ([]Keyed, error)
	// Watched returns the keys of a rule whose state has Watch set.
	Watched(ctx context.Context, rule string) ([]StateKey, error)
	// Tallies returns a rate rule's tallies of minutes from since on.
	Tallies(ctx context.Context, rule string, since time.Time) ([]Tally, error)
}
