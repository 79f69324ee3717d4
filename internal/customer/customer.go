// Package customer is the customers domain as operators and analysts see
// it: one customer across channels with its identities, merge history,
// journeys, recent interactions and open failures; undoing a merge; and
// erasing everything about a customer, leaving an audit record without
// personal data.
package customer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
)

// Errors the service returns; the HTTP edge maps them to status codes.
var (
	ErrNotFound = errors.New("no such customer")
	// ErrErased means the customer existed and was erased.
	ErrErased = errors.New("customer erased")
	// ErrNotMerged means an unmerge was asked of a customer that is not
	// merged into another.
	ErrNotMerged = errors.New("customer is not merged into another")
	// ErrMergedAway means the operation needs the customer it was merged
	// into, or the merge undone first.
	ErrMergedAway = errors.New("customer was merged into another")
	// ErrConflict means concurrent changes kept the operation from
	// completing; retrying is safe.
	ErrConflict = errors.New("concurrent change")
)

// Merge record states.
const (
	MergeMerged   = "merged"
	MergeUnmerged = "unmerged"
)

// Profile is a customer's own record.
type Profile struct {
	ID           string
	Exists       bool
	Version      int64
	FirstSeenAt  time.Time
	UpdatedAt    time.Time
	Interactions int64
	// Keys point at this customer (for a merged customer: those it had
	// when it was merged).
	Keys       []identity.Key
	MergedInto string
	// MergeSK locates the merge record of a merged customer.
	MergeSK  string
	Absorbed []string
	Apart    []string
	// LastUnmergeSK and LastUnmergedFrom locate the merge record of the
	// last unmerge, so an interrupted one can be finished.
	LastUnmergeSK    string
	LastUnmergedFrom string
}

// Cause is what made OCX merge two customers.
type Cause struct {
	EventID string         `json:"event_id"`
	Keys    []identity.Key `json:"keys"`
}

// MergeRecord is one merge, recorded under the survivor.
type MergeRecord struct {
	ID         string     `json:"id"`
	Survivor   string     `json:"survivor"`
	Absorbed   string     `json:"absorbed"`
	At         time.Time  `json:"at"`
	State      string     `json:"state"`
	UnmergedAt *time.Time `json:"unmerged_at,omitempty"`
	Cause      Cause      `json:"cause"`
	// Keys are the absorbed customer's keys when it was merged.
	Keys []identity.Key `json:"keys"`
	// Returned are keys linked after the merge that went back with the
	// absorbed customer when it was undone.
	Returned []identity.Key `json:"returned_keys,omitempty"`
	// Moved counts interactions and journeys recorded after the merge that
	// went back with the absorbed customer.
	Moved int `json:"moved,omitempty"`

	SK      string   `json:"-"`
	Pending []string `json:"-"`
}

// Stored is an interaction as recorded under a customer.
type Stored struct {
	SK     string
	Event  events.Interaction
	Keys   []identity.Key
	Linked []identity.Key
}

// Partition is everything recorded under one customer id.
type Partition struct {
	Profile      Profile
	Merges       []MergeRecord
	Journeys     []journey.Ref
	Interactions []Stored
}

// Link is an identity key's record.
type Link struct {
	Customer string
	LinkedAt time.Time
	// LinkedBy is the event that first carried the key.
	LinkedBy string
}

// Unmerge is one merge being undone.
type Unmerge struct {
	Merge    MergeRecord
	Survivor Profile
	Absorbed Profile
	// Keys go back to the absorbed customer: its keys at the merge and
	// Returned, those linked since by events that were its.
	Keys     []identity.Key
	Returned []identity.Key
	// Moves are items recorded under the survivor since the merge that
	// belong to the absorbed customer (interaction and journey sort keys).
	Moves        []string
	Interactions int64
	At           time.Time
}

// ErasePlan is everything to delete for one erasure.
type ErasePlan struct {
	Customers []string
	Keys      []identity.Key
	Instances []journey.Ref
	// Events are the erased interactions' ids, whose dedupe markers are
	// blanked (kept, so a redelivery cannot bring the data back).
	Events []string
	// Apart lists, for the erased customers, the customers unmerges kept
	// them apart from: their records of it name erased keys.
	Apart []string
	At    time.Time
}

// Erasure is the audit record of an erasure: what was erased, in counts,
// and when. It holds no identity key, no event content and no free text.
type Erasure struct {
	ID string `json:"id"`
	// CustomerIDs are the opaque ids erased: the customer and every
	// customer merged into it.
	CustomerIDs []string `json:"customer_ids"`
	// RequestRef is the operator's reference for the request (a ticket
	// number), restricted to a shape that cannot hold an address.
	RequestRef  string        `json:"request_ref,omitempty"`
	State       string        `json:"state"`
	RequestedAt time.Time     `json:"requested_at"`
	CompletedAt *time.Time    `json:"completed_at,omitempty"`
	Counts      ErasureCounts `json:"counts"`
}

// Erasure states.
const (
	ErasureStarted   = "started"
	ErasureCompleted = "completed"
)

// ErasureCounts says how much was erased.
type ErasureCounts struct {
	IdentityKeys int `json:"identity_keys"`
	Interactions int `json:"interactions"`
	Journeys     int `json:"journeys"`
	Merges       int `json:"merges"`
	RawObjects   int `json:"raw_objects"`
	// RawElsewhere counts raw references outside the archive bucket,
	// which were left alone.
	RawElsewhere int `json:"raw_elsewhere,omitempty"`
	Failures     int `json:"failures"`
}

// Store reads and changes customer records.
type Store interface {
	// Partition reads a customer's profile, merge records and journey
	// pointers, with its newest `recent` interactions (all when < 0).
	Partition(ctx context.Context, id string, recent int) (Partition, error)
	// Owner returns the customer a key points at, or "".
	Owner(ctx context.Context, k identity.Key) (string, error)
	Links(ctx context.Context, keys []identity.Key) (map[identity.Key]Link, error)
	Instances(ctx context.Context, refs []journey.Ref) (map[journey.Ref]*journey.Instance, error)
	// Unmerge undoes u.Merge atomically: keys, profiles, the merge record
	// (with u.Moves pending). ErrConflict when either customer changed.
	Unmerge(ctx context.Context, u Unmerge) error
	// Move moves pending items of an unmerge from the survivor to the
	// absorbed customer; it is safe to repeat.
	Move(ctx context.Context, survivor, absorbed, mergeSK string, ids []string) error
	// Erase deletes everything in the plan; it is safe to repeat.
	Erase(ctx context.Context, p ErasePlan) error
	PutErasure(ctx context.Context, e Erasure) error
	// Erasures lists the erasures of a customer id, oldest first.
	Erasures(ctx context.Context, customerID string) ([]Erasure, error)
}

// Subject is whom failures are looked up for: customer ids and the keys
// that point at them (failures name customers by either).
type Subject struct {
	CustomerIDs []string
	Keys        []identity.Key
}

// Failures finds and erases a customer's failure records.
type Failures interface {
	Open(ctx context.Context, s Subject) ([]events.Failure, error)
	Erase(ctx context.Context, s Subject) (int, error)
}

// Raiser is implemented by Failures that can list every failure of the
// subject, resolved ones included (the customer's timeline shows them).
type Raiser interface {
	// Raised returns the subject's failures of the same window as Open,
	// whatever their state, newest first.
	Raised(ctx context.Context, s Subject) ([]events.Failure, error)
}

// Archive is where raw payloads are kept (internal/archive).
type Archive interface {
	// Holds reports whether ref names a raw payload in this archive.
	Holds(ref string) bool
	// Erase overwrites the raw payload ref names with tombstone, a JSON
	// object, where it lies.
	Erase(ctx context.Context, ref string, tombstone []byte) error
}

// Service answers and acts on customers.
type Service struct {
	Store    Store
	Failures Failures
	// Archive erases raw payloads and, when it is a RawReader, serves
	// them (GET /v1/raw).
	Archive Archive
	Now     func() time.Time
	Log     *slog.Logger
}

// DefaultRecent is how many recent interactions a customer view shows.
const DefaultRecent = 50

// MaxRecent bounds the interactions one view returns.
const MaxRecent = 500

// View is a customer as GET /v1/customers/{id} shows it.
type View struct {
	ID string `json:"id"`
	// RequestedID is the id asked for, when it was merged into ID.
	RequestedID       string            `json:"requested_id,omitempty"`
	FirstSeenAt       time.Time         `json:"first_seen_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	InteractionsTotal int64             `json:"interactions_total"`
	Identities        []IdentityView    `json:"identities"`
	Merges            []MergeRecord     `json:"merges"`
	Journeys          []JourneyView     `json:"journeys"`
	Interactions      []InteractionView `json:"interactions"`
	Failures          []events.Failure  `json:"failures"`
	// Raised lists every failure of the customer in the same window,
	// resolved ones included, newest first (absent when the store cannot
	// say).
	Raised []events.Failure `json:"raised_failures,omitempty"`
	// Apart lists customers an unmerge separated this one from.
	Apart []string `json:"apart,omitempty"`
}

// IdentityView is one identity key of a customer.
type IdentityView struct {
	Key      identity.Key `json:"key"`
	Kind     string       `json:"kind"`
	LinkedAt *time.Time   `json:"linked_at,omitempty"`
	// LinkedBy is the event that first carried the key.
	LinkedBy string `json:"linked_by,omitempty"`
	// Via is the merged-in customer the key came with.
	Via string `json:"via,omitempty"`
}

// JourneyView is one journey instance of a customer.
type JourneyView struct {
	Journey   string     `json:"journey"`
	Instance  string     `json:"instance"`
	Outcome   string     `json:"outcome"`
	Stage     string     `json:"stage"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	SLADueAt  *time.Time `json:"sla_due_at,omitempty"`
	// SLABreached is true when the current stage is past its due time.
	SLABreached bool        `json:"sla_breached"`
	History     []VisitView `json:"history"`
	// RecordedUnder is the customer the instance started under.
	RecordedUnder string `json:"recorded_under"`
}

// VisitView is one stay in a stage, with its time in stage.
type VisitView struct {
	journey.Visit
	Seconds  int64 `json:"seconds_in_stage"`
	Breached bool  `json:"sla_breached"`
}

// InteractionView is an interaction and the customer it was recorded under.
type InteractionView struct {
	events.Interaction
	RecordedUnder string `json:"recorded_under"`
}

// Get returns the customer with id; a merged id shows the customer it was
// merged into.
func (s *Service) Get(ctx context.Context, id string, recent int) (View, error) {
	root, err := s.Store.Partition(ctx, id, 0)
	if err != nil {
		return View{}, fmt.Errorf("read customer %s: %w", id, err)
	}
	if !root.Profile.Exists {
		return View{}, s.missing(ctx, id)
	}
	for hops := 0; root.Profile.MergedInto != ""; hops++ {
		if hops > 16 {
			return View{}, fmt.Errorf("customer %s: merge pointers do not end", id)
		}
		if root, err = s.Store.Partition(ctx, root.Profile.MergedInto, 0); err != nil {
			return View{}, fmt.Errorf("read customer %s: %w", id, err)
		}
	}
	tree, err := s.tree(ctx, root.Profile.ID, recent)
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, id, tree, recent)
}

// Lookup returns the customer an identity key points at.
func (s *Service) Lookup(ctx context.Context, k identity.Key, recent int) (View, error) {
	id, err := s.Store.Owner(ctx, k)
	if err != nil {
		return View{}, fmt.Errorf("look up %s: %w", k.Kind(), err)
	}
	if id == "" {
		return View{}, ErrNotFound
	}
	return s.Get(ctx, id, recent)
}

func (s *Service) missing(ctx context.Context, id string) error {
	es, err := s.Store.Erasures(ctx, id)
	if err != nil {
		return fmt.Errorf("read erasures of %s: %w", id, err)
	}
	if len(es) > 0 {
		return &ErasedError{Erasure: es[len(es)-1]}
	}
	return ErrNotFound
}

// ErasedError carries the audit record of an erased customer.
type ErasedError struct{ Erasure Erasure }

func (e *ErasedError) Error() string {
	return fmt.Sprintf("customer erased at %s (erasure %s)", e.Erasure.RequestedAt.Format(time.RFC3339), e.Erasure.ID)
}

// Unwrap makes errors.Is(err, ErrErased) hold.
func (e *ErasedError) Unwrap() error { return ErrErased }

// tree reads a live customer and every customer merged into it.
func (s *Service) tree(ctx context.Context, id string, recent int) ([]Partition, error) {
	var out []Partition
	queue := []string{id}
	seen := map[string]bool{}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if seen[cur] {
			continue
		}
		seen[cur] = true
		p, err := s.Store.Partition(ctx, cur, recent)
		if err != nil {
			return nil, fmt.Errorf("read customer %s: %w", cur, err)
		}
		out = append(out, p)
		for _, m := range p.Merges {
			if m.State == MergeMerged {
				queue = append(queue, m.Absorbed)
			}
		}
	}
	return out, nil
}

func (s *Service) view(ctx context.Context, requested string, tree []Partition, recent int) (View, error) {
	root := tree[0].Profile
	v := View{
		ID: root.ID, FirstSeenAt: root.FirstSeenAt, UpdatedAt: root.UpdatedAt, Apart: root.Apart,
		Identities: []IdentityView{}, Merges: []MergeRecord{}, Journeys: []JourneyView{},
		Interactions: []InteractionView{}, Failures: []events.Failure{},
	}
	if requested != root.ID {
		v.RequestedID = requested
	}
	via := map[identity.Key]string{}
	var refs []journey.Ref
	owner := map[journey.Ref]string{}
	for _, p := range tree {
		v.InteractionsTotal += p.Profile.Interactions
		for _, m := range p.Merges {
			v.Merges = append(v.Merges, m)
			if m.State == MergeMerged {
				for _, k := range m.Keys {
					via[k] = m.Absorbed
				}
			}
		}
		for _, r := range p.Journeys {
			refs = append(refs, r)
			owner[r] = p.Profile.ID
		}
		for _, it := range p.Interactions {
			v.Interactions = append(v.Interactions, InteractionView{Interaction: it.Event, RecordedUnder: p.Profile.ID})
		}
	}
	sort.Slice(v.Merges, func(i, j int) bool { return v.Merges[i].At.After(v.Merges[j].At) })
	sort.SliceStable(v.Interactions, func(i, j int) bool {
		return v.Interactions[i].OccurredAt.After(v.Interactions[j].OccurredAt)
	})
	if len(v.Interactions) > recent {
		v.Interactions = v.Interactions[:recent]
	}
	links, err := s.Store.Links(ctx, root.Keys)
	if err != nil {
		return v, fmt.Errorf("read identities of %s: %w", root.ID, err)
	}
	for _, k := range root.Keys {
		iv := IdentityView{Key: k, Kind: k.Kind(), Via: via[k]}
		if l, ok := links[k]; ok {
			at := l.LinkedAt
			iv.LinkedAt, iv.LinkedBy = &at, l.LinkedBy
		}
		v.Identities = append(v.Identities, iv)
	}
	insts, err := s.Store.Instances(ctx, refs)
	if err != nil {
		return v, fmt.Errorf("read journeys of %s: %w", root.ID, err)
	}
	now := s.Now().UTC()
	for _, r := range refs {
		in, ok := insts[r]
		if !ok || in.State.Outcome == journey.OutcomePending {
			continue
		}
		v.Journeys = append(v.Journeys, journeyView(in, owner[r], now))
	}
	sort.Slice(v.Journeys, func(i, j int) bool {
		a, b := v.Journeys[i], v.Journeys[j]
		if (a.StartedAt == nil) != (b.StartedAt == nil) || a.StartedAt == nil || a.StartedAt.Equal(*b.StartedAt) {
			return a.Journey+a.Instance < b.Journey+b.Instance
		}
		return a.StartedAt.After(*b.StartedAt)
	})
	if s.Failures != nil {
		ids := make([]string, len(tree))
		for i, p := range tree {
			ids[i] = p.Profile.ID
		}
		subj := Subject{CustomerIDs: ids, Keys: root.Keys}
		if r, ok := s.Failures.(Raiser); ok {
			raised, err := r.Raised(ctx, subj)
			if err != nil {
				return v, fmt.Errorf("read failures of %s: %w", root.ID, err)
			}
			v.Raised = []events.Failure{}
			for _, f := range raised {
				v.Raised = append(v.Raised, f)
				if f.State != "resolved" {
					v.Failures = append(v.Failures, f)
				}
			}
			return v, nil
		}
		fs, err := s.Failures.Open(ctx, subj)
		if err != nil {
			return v, fmt.Errorf("read failures of %s: %w", root.ID, err)
		}
		if fs != nil {
			v.Failures = fs
		}
	}
	return v, nil
}

func journeyView(in *journey.Instance, owner string, now time.Time) JourneyView {
	st := in.State
	jv := JourneyView{
		Journey: in.Journey, Instance: in.Instance, Outcome: st.Outcome, Stage: st.Stage,
		StartedAt: st.StartedAt, EndedAt: st.EndedAt, SLADueAt: st.SLADueAt,
		SLABreached: st.SLADueAt != nil && now.After(*st.SLADueAt), RecordedUnder: owner,
		History: make([]VisitView, len(st.History)),
	}
	for i, v := range st.History {
		end := now
		if v.ExitedAt != nil {
			end = *v.ExitedAt
		}
		jv.History[i] = VisitView{Visit: v, Seconds: int64(end.Sub(v.EnteredAt) / time.Second),
			Breached: v.SLADueAt != nil && end.After(*v.SLADueAt)}
	}
	return jv
}

// UnmergeResult says what an unmerge did.
type UnmergeResult struct {
	MergeID  string `json:"merge_id"`
	Survivor string `json:"survivor"`
	Absorbed string `json:"absorbed"`
	// Keys went back to the absorbed customer; Returned are those among
	// them that were linked after the merge.
	Keys     []identity.Key `json:"keys"`
	Returned []identity.Key `json:"returned_keys"`
	// Interactions and Journeys recorded under the survivor since the
	// merge that went back.
	Interactions int64 `json:"interactions_moved"`
	Journeys     int   `json:"journeys_moved"`
}

// Unmerge undoes the merge of absorbed into the customer it was merged
// into. What goes back is documented in docs/data-model.md ("Undoing a
// merge"): the absorbed customer's keys, everything still recorded under it,
// and whatever was recorded under the survivor since the merge on the
// strength of its keys alone. The two are then kept apart: later events
// carrying both sides' keys do not merge them again.
func (s *Service) Unmerge(ctx context.Context, absorbed string) (UnmergeResult, error) {
	for attempt := 1; attempt <= 5; attempt++ {
		if attempt > 1 {
			time.Sleep(time.Duration(attempt*attempt) * 10 * time.Millisecond)
		}
		res, err := s.unmerge(ctx, absorbed)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return res, err
	}
	return UnmergeResult{}, fmt.Errorf("unmerge %s: %w", absorbed, ErrConflict)
}

func (s *Service) unmerge(ctx context.Context, id string) (UnmergeResult, error) {
	b, err := s.Store.Partition(ctx, id, 0)
	if err != nil {
		return UnmergeResult{}, fmt.Errorf("read customer %s: %w", id, err)
	}
	if !b.Profile.Exists {
		return UnmergeResult{}, s.missing(ctx, id)
	}
	if b.Profile.MergedInto == "" {
		return s.resume(ctx, b.Profile)
	}
	a, err := s.Store.Partition(ctx, b.Profile.MergedInto, -1)
	if err != nil {
		return UnmergeResult{}, fmt.Errorf("read customer %s: %w", b.Profile.MergedInto, err)
	}
	if a.Profile.MergedInto != "" {
		return UnmergeResult{}, fmt.Errorf("%w: %s was merged into %s afterwards; unmerge %s first",
			ErrMergedAway, a.Profile.ID, a.Profile.MergedInto, a.Profile.ID)
	}
	var rec *MergeRecord
	for i := range a.Merges {
		if a.Merges[i].SK == b.Profile.MergeSK {
			rec = &a.Merges[i]
		}
	}
	if rec == nil || rec.State != MergeMerged {
		return UnmergeResult{}, fmt.Errorf("unmerge %s: merge record %s under %s is missing", id, b.Profile.MergeSK, a.Profile.ID)
	}
	insts, err := s.Store.Instances(ctx, a.Journeys)
	if err != nil {
		return UnmergeResult{}, fmt.Errorf("read journeys of %s: %w", a.Profile.ID, err)
	}
	claims := make([]identity.Claim, 0, len(a.Interactions)+len(a.Journeys))
	for _, it := range a.Interactions {
		claims = append(claims, identity.Claim{ID: it.SK, Keys: it.Keys, Linked: it.Linked})
	}
	for _, r := range a.Journeys {
		if in, ok := insts[r]; ok {
			claims = append(claims, identity.Claim{ID: JourneySK(r), Keys: in.Keys})
		}
	}
	moved, returned := identity.Split(rec.Keys, claims)
	u := Unmerge{Merge: *rec, Survivor: a.Profile, Absorbed: b.Profile, Returned: returned, At: s.Now().UTC()}
	u.Keys = append(append([]identity.Key(nil), rec.Keys...), returned...)
	res := UnmergeResult{MergeID: rec.ID, Survivor: a.Profile.ID, Absorbed: id, Keys: u.Keys, Returned: returned}
	for _, c := range claims {
		if !moved[c.ID] {
			continue
		}
		u.Moves = append(u.Moves, c.ID)
		if strings.HasPrefix(c.ID, "journey#") {
			res.Journeys++
		} else {
			u.Interactions++
		}
	}
	res.Interactions = u.Interactions
	if err := s.Store.Unmerge(ctx, u); err != nil {
		return UnmergeResult{}, err
	}
	s.Log.Info("customers unmerged", "merge_id", rec.ID, "survivor", a.Profile.ID, "absorbed", id,
		"keys", len(u.Keys), "moved", len(u.Moves))
	if err := s.Store.Move(ctx, a.Profile.ID, id, rec.SK, u.Moves); err != nil {
		return res, fmt.Errorf("unmerged %s from %s, but moving its items back failed (run the unmerge again to finish): %w", id, a.Profile.ID, err)
	}
	return res, nil
}

// resume finishes the moves of an unmerge that was interrupted after the
// customers were split; a customer that was never merged is an error.
func (s *Service) resume(ctx context.Context, b Profile) (UnmergeResult, error) {
	if b.LastUnmergeSK == "" {
		return UnmergeResult{}, ErrNotMerged
	}
	a, err := s.Store.Partition(ctx, b.LastUnmergedFrom, 0)
	if err != nil {
		return UnmergeResult{}, fmt.Errorf("read customer %s: %w", b.LastUnmergedFrom, err)
	}
	for _, m := range a.Merges {
		if m.SK != b.LastUnmergeSK || len(m.Pending) == 0 {
			continue
		}
		if err := s.Store.Move(ctx, a.Profile.ID, b.ID, m.SK, m.Pending); err != nil {
			return UnmergeResult{}, fmt.Errorf("finish unmerge of %s from %s: %w", b.ID, a.Profile.ID, err)
		}
		return UnmergeResult{MergeID: m.ID, Survivor: a.Profile.ID, Absorbed: b.ID, Keys: m.Keys, Returned: m.Returned}, nil
	}
	return UnmergeResult{}, ErrNotMerged
}

// JourneySK is the sort key under which a customer lists a journey instance.
func JourneySK(r journey.Ref) string { return "journey#" + r.Journey + "#" + r.Instance }

// Erase deletes everything about a live customer and every customer merged
// into it: identity keys, profile, interactions, journeys, merge records,
// raw archived payloads and failure records. The audit record it leaves
// (and returns) counts what was erased and holds no personal data. Erasing
// an erased customer returns the earlier audit record.
func (s *Service) Erase(ctx context.Context, id, ref string) (Erasure, error) {
	root, err := s.Store.Partition(ctx, id, 0)
	if err != nil {
		return Erasure{}, fmt.Errorf("read customer %s: %w", id, err)
	}
	e := Erasure{ID: newErasureID(), RequestRef: ref, State: ErasureStarted, RequestedAt: s.Now().UTC()}
	if !root.Profile.Exists {
		err := s.missing(ctx, id)
		var erased *ErasedError
		if !errors.As(err, &erased) {
			return Erasure{}, err
		}
		if erased.Erasure.State == ErasureCompleted {
			return erased.Erasure, nil
		}
		// An erasure was interrupted after the profile went: finish it
		// under its own record.
		e = erased.Erasure
		e.Counts = ErasureCounts{}
	}
	if root.Profile.MergedInto != "" {
		return Erasure{}, fmt.Errorf("%w: %s was merged into %s; erase %s (the whole customer) or unmerge %s first",
			ErrMergedAway, id, root.Profile.MergedInto, root.Profile.MergedInto, id)
	}
	tree, err := s.tree(ctx, id, -1)
	if err != nil {
		return Erasure{}, err
	}
	plan := ErasePlan{At: e.RequestedAt}
	// A resumed erasure still covers every customer it started with.
	previous := e.CustomerIDs
	e.CustomerIDs = nil
	keys := map[identity.Key]bool{}
	raws := map[string]bool{}
	for _, p := range tree {
		e.CustomerIDs = append(e.CustomerIDs, p.Profile.ID)
		plan.Customers = append(plan.Customers, p.Profile.ID)
		plan.Apart = append(plan.Apart, p.Profile.Apart...)
		for _, k := range p.Profile.Keys {
			keys[k] = true
		}
		for _, m := range p.Merges {
			e.Counts.Merges++
			if m.State == MergeMerged {
				for _, k := range m.Keys {
					keys[k] = true
				}
			}
		}
		plan.Instances = append(plan.Instances, p.Journeys...)
		for _, it := range p.Interactions {
			plan.Events = append(plan.Events, it.Event.ID)
			if it.Event.Raw != "" {
				raws[it.Event.Raw] = true
			}
		}
		e.Counts.Interactions += len(p.Interactions)
	}
	for _, id := range previous {
		if !slices.Contains(plan.Customers, id) {
			plan.Customers = append(plan.Customers, id)
			e.CustomerIDs = append(e.CustomerIDs, id)
		}
	}
	for k := range keys {
		plan.Keys = append(plan.Keys, k)
	}
	sort.Slice(plan.Keys, func(i, j int) bool { return plan.Keys[i] < plan.Keys[j] })
	e.Counts.IdentityKeys = len(plan.Keys)
	e.Counts.Journeys = len(plan.Instances)
	// The audit record goes first, so an erasure that dies halfway is on
	// record and can be finished by asking again.
	if err := s.Store.PutErasure(ctx, e); err != nil {
		return Erasure{}, fmt.Errorf("record erasure of %s: %w", id, err)
	}
	if err := s.eraseRaw(ctx, &e, raws); err != nil {
		return Erasure{}, err
	}
	if s.Failures != nil {
		n, err := s.Failures.Erase(ctx, Subject{CustomerIDs: plan.Customers, Keys: plan.Keys})
		if err != nil {
			return Erasure{}, fmt.Errorf("erase failures of %s: %w", id, err)
		}
		e.Counts.Failures = n
	}
	if err := s.Store.Erase(ctx, plan); err != nil {
		return Erasure{}, fmt.Errorf("erase customer %s: %w", id, err)
	}
	done := s.Now().UTC()
	e.State, e.CompletedAt = ErasureCompleted, &done
	if err := s.Store.PutErasure(ctx, e); err != nil {
		return Erasure{}, fmt.Errorf("record erasure of %s: %w", id, err)
	}
	s.Log.Info("customer erased", "erasure_id", e.ID, "customers", len(e.CustomerIDs), "interactions", e.Counts.Interactions,
		"raw_objects", e.Counts.RawObjects, "failures", e.Counts.Failures)
	return e, nil
}

// eraseRaw overwrites each raw payload with a tombstone. The archive
// bucket is unversioned, so the payload is gone; the reference still
// answers, so other events that came in the same webhook delivery (a
// batch) find a record of why their raw payload is no longer there. A raw
// record still in its delivery stream's buffer is not in S3 yet: erasing
// it fails, and asking again after the buffer interval finishes the
// erasure.
func (s *Service) eraseRaw(ctx context.Context, e *Erasure, raws map[string]bool) error {
	if len(raws) == 0 {
		return nil
	}
	if s.Archive == nil {
		return errors.New("erase raw payloads: no archive configured")
	}
	tomb, err := json.Marshal(map[string]any{"erased": true, "erasure_id": e.ID, "erased_at": e.RequestedAt})
	if err != nil {
		return fmt.Errorf("encode tombstone: %w", err)
	}
	uris := make([]string, 0, len(raws))
	for u := range raws {
		uris = append(uris, u)
	}
	sort.Strings(uris)
	for _, u := range uris {
		if !s.Archive.Holds(u) {
			e.Counts.RawElsewhere++
			continue
		}
		if err := s.Archive.Erase(ctx, u, tomb); err != nil {
			return fmt.Errorf("erase raw payload: %w", err)
		}
		e.Counts.RawObjects++
	}
	return nil
}

func newErasureID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "ers_" + hex.EncodeToString(b)
}
