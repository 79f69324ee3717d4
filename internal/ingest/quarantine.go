package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpjson"
)

// Bad row states.
const (
	StateQuarantined = "quarantined"
	StateReplayed    = "replayed"
)

// BadRow is a verified delivery, or the part of one, that could not be
// mapped: kept with its reasons and its raw copy until a mapping fix lets
// it be replayed (Snowplow's bad rows).
type BadRow struct {
	ID         string    `json:"id"`
	Channel    string    `json:"channel"`
	DeliveryID string    `json:"delivery_id"`
	Raw        string    `json:"raw"`
	Reasons    []Reason  `json:"reasons"`
	State      string    `json:"state"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// AcceptedIDs are the events already published from this delivery; a
	// replay publishes only what is new.
	AcceptedIDs []string `json:"accepted_event_ids"`
	Replays     int      `json:"replays"`
	// History records the latest replays: when, by whom, what each
	// published and how many items it left.
	History []ReplayRecord `json:"replay_history,omitempty"`
	// ReplayingUntil is set while a replay holds the row: another replay
	// meanwhile is refused rather than publishing the same events again.
	ReplayingUntil time.Time `json:"replaying_until,omitzero"`
	// OmittedReasons counts reasons left off to keep the row within one
	// DynamoDB item; the raw copy still holds every item.
	OmittedReasons int `json:"omitted_reasons,omitempty"`
}

// ReplayRecord is one replay of a bad row.
type ReplayRecord struct {
	At        time.Time `json:"at"`
	By        string    `json:"by"`
	Published int       `json:"published"`
	Remaining int       `json:"remaining"`
}

// maxHistory bounds the replays a row remembers; Replays counts them all.
const maxHistory = 20

// Reason is why one item was not mapped.
type Reason struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	// Item is the item's raw JSON (or text), for a first look without the archive.
	Item string `json:"item,omitempty"`
	// Kept is true for a note on an item that was published all the same,
	// such as an identity value dropped from it.
	Kept bool `json:"kept,omitempty"`
}

// maxItemPreview bounds the copy of an item kept on the row, maxReason its
// reason; the archive has the whole request.
const (
	maxItemPreview = 4096
	maxReason      = 1024
)

// MaxBadRowBytes bounds a bad row's JSON, well under DynamoDB's 400 KB
// item limit with the row's keys and index attributes.
const MaxBadRowBytes = 300 << 10

// fit keeps the row within MaxBadRowBytes: item previews go first, then
// reasons from the end, counted in OmittedReasons. The reasons and the raw
// pointer are what matter; the archive has every item.
func (row *BadRow) fit() {
	size := func() int { b, _ := json.Marshal(row); return len(b) }
	if size() <= MaxBadRowBytes {
		return
	}
	for i := range row.Reasons {
		row.Reasons[i].Item = ""
	}
	for size() > MaxBadRowBytes && len(row.Reasons) > 0 {
		keep := len(row.Reasons) / 2
		row.OmittedReasons += len(row.Reasons) - keep
		row.Reasons = row.Reasons[:keep]
	}
}

// NewBadRow records a delivery's rejects.
func NewBadRow(chID string, d channel.Delivery, rawRef string, accepted []string, now time.Time) BadRow {
	sum := sha256.Sum256([]byte(chID + "\x00" + d.ID))
	row := BadRow{
		ID: "bad_" + hex.EncodeToString(sum[:12]), Channel: chID, DeliveryID: d.ID, Raw: rawRef,
		State: StateQuarantined, CreatedAt: now.UTC(), UpdatedAt: now.UTC(), AcceptedIDs: accepted,
	}
	row.Reasons = reasons(d.Rejects)
	row.fit()
	return row
}

func reasons(rs []channel.Reject) []Reason {
	out := make([]Reason, len(rs))
	for i, r := range rs {
		out[i] = Reason{Index: r.Index, Reason: shorten(r.Reason, maxReason), Item: shorten(string(r.Item), maxItemPreview)}
	}
	return out
}

// Filter selects bad rows.
type Filter struct {
	Channel string
	State   string
	// Since and Until, when set, bound the creation time: [Since, Until).
	Since, Until time.Time
}

// Quarantine stores bad rows.
type Quarantine interface {
	// Put creates or replaces a row.
	Put(ctx context.Context, row BadRow) error
	// Replace writes row only if the stored row's replay count is still
	// replays, and reports whether it did.
	Replace(ctx context.Context, row BadRow, replays int) (bool, error)
	Get(ctx context.Context, id string) (BadRow, bool, error)
	// List returns rows newest first, a page at a time.
	List(ctx context.Context, f Filter, cursor string, limit int) ([]BadRow, string, error)
	// After returns the cursor that resumes a listing of state right
	// after row, so a caller may stop within a page.
	After(row BadRow, state string) string
}

// ArchiveReader reads raw copies back.
type ArchiveReader interface {
	Get(ctx context.Context, uri string) ([]byte, error)
}

// Replayer re-maps quarantined deliveries with the current mappings.
type Replayer struct {
	Channels   map[string]channel.Channel
	Archive    ArchiveReader
	Quarantine Quarantine
	Bus        events.Publisher
	Now        func() time.Time
	// BulkBudget overrides the time one bulk call may spend (tests).
	BulkBudget time.Duration
}

// ReplayResult says what a replay did.
type ReplayResult struct {
	Row       BadRow   `json:"bad_row"`
	Published []string `json:"published_event_ids"`
}

// ErrNotFound is returned for an unknown bad row.
var ErrNotFound = errors.New("no such bad row")

// ErrReplayRace is returned when another replay of the same row got there
// first, again and again.
var ErrReplayRace = errors.New("another replay of this bad row is under way")

// ErrReplayBusy is returned while another replay holds the row.
var ErrReplayBusy = errors.New("another replay holds this bad row")

// replayLease bounds how long a crashed replay blocks the next one; a
// replay of one row takes well under the request Deadline.
const replayLease = 2 * Deadline

// ErrBadCursor is what a Quarantine returns for a page token it did not issue.
var ErrBadCursor = errors.New("cursor is not one this API issued")

// Replay re-parses a bad row's archived request and publishes the events
// that now map and were not published before. Items that still fail keep
// the row quarantined with their current reasons. The row is claimed
// (its replay count advanced under a condition) before anything is
// published, so two replays of one row racing each other publish once.
func (r *Replayer) Replay(ctx context.Context, id string) (ReplayResult, error) {
	for range 3 {
		res, err := r.replayOnce(ctx, id)
		if !errors.Is(err, ErrReplayRace) {
			return res, err
		}
	}
	return ReplayResult{}, fmt.Errorf("replay bad row %s: %w", id, ErrReplayRace)
}

func (r *Replayer) replayOnce(ctx context.Context, id string) (ReplayResult, error) {
	row, ok, err := r.Quarantine.Get(ctx, id)
	if err != nil {
		return ReplayResult{}, err
	}
	if !ok {
		return ReplayResult{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if row.State == StateReplayed {
		return ReplayResult{Row: row}, nil
	}
	now := r.Now()
	if now.Before(row.ReplayingUntil) {
		return ReplayResult{}, fmt.Errorf("%w: bad row %s until %s", ErrReplayBusy, id, row.ReplayingUntil.Format(time.RFC3339))
	}
	evs, rejects, err := r.remap(ctx, row)
	if err != nil {
		return ReplayResult{}, err
	}
	prev := row.Replays
	row.Replays++
	row.UpdatedAt = now.UTC()
	row.ReplayingUntil = now.Add(replayLease).UTC()
	won, err := r.Quarantine.Replace(ctx, row, prev)
	if err != nil {
		return ReplayResult{}, fmt.Errorf("claim bad row %s for replay: %w", id, err)
	}
	if !won {
		return ReplayResult{}, ErrReplayRace
	}
	var fresh []events.Event
	var ids []string
	arch, _ := r.Archive.(Archiver)
	for _, ev := range evs {
		if len(fresh) == MaxItems {
			rejects = append(rejects, channel.Reject{Index: len(fresh), Reason: fmt.Sprintf("waiting for the next replay (at most %d events a call)", MaxItems)})
			break
		}
		if ev, err = claimCheck(ctx, arch, ev, now); err != nil {
			return ReplayResult{}, err
		}
		fresh = append(fresh, events.Event{Source: events.SourceIngest, DetailType: ev.Type, Detail: ev, Time: ev.OccurredAt})
		ids = append(ids, ev.ID)
	}
	if len(fresh) > 0 {
		if err := r.Bus.Publish(ctx, fresh...); err != nil {
			return ReplayResult{}, fmt.Errorf("replay bad row %s: %w", id, err)
		}
	}
	row.AcceptedIDs = append(row.AcceptedIDs, ids...)
	row.Reasons = reasons(rejects)
	row.OmittedReasons = 0
	row.History = append(row.History, ReplayRecord{At: now.UTC(), By: actor(ctx), Published: len(ids), Remaining: len(rejects)})
	if n := len(row.History); n > maxHistory {
		row.History = row.History[n-maxHistory:]
	}
	row.ReplayingUntil = time.Time{}
	row.fit()
	if len(rejects) == 0 {
		row.State = StateReplayed
	}
	if err := r.Quarantine.Put(ctx, row); err != nil {
		return ReplayResult{}, fmt.Errorf("update bad row %s after replay: %w", id, err)
	}
	return ReplayResult{Row: row, Published: ids}, nil
}

// remap parses a row's archived request with the current mapping and
// returns the events not yet published from it and the items that still
// do not map. It publishes and writes nothing: a dry run uses it as is.
func (r *Replayer) remap(ctx context.Context, row BadRow) ([]events.Interaction, []channel.Reject, error) {
	ch, ok := r.Channels[row.Channel]
	if !ok {
		return nil, nil, fmt.Errorf("bad row %s: channel %q is no longer configured", row.ID, row.Channel)
	}
	b, err := r.Archive.Get(ctx, row.Raw)
	if err != nil {
		return nil, nil, err
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, nil, fmt.Errorf("decode archived request %s: %w", row.Raw, err)
	}
	d, perr := ch.Kind.Parse(channel.Request{Header: rec.Header, Body: rec.Body, URL: rec.URL})
	if perr != nil {
		d = channel.Delivery{Rejects: []channel.Reject{{Reason: perr.Error(), Item: rec.Body}}}
	}
	d.ID = row.DeliveryID
	// Uncapped, so every event keeps the id it had when first screened;
	// the cap applies to what one replay publishes.
	d, _, _ = screen(d, false, math.MaxInt)
	var out []events.Interaction
	for _, ev := range Canonical(row.Channel, d, row.Raw, r.Now()) {
		if !slices.Contains(row.AcceptedIDs, ev.ID) {
			out = append(out, ev)
		}
	}
	return out, d.Rejects, nil
}

// actor names who asked for a replay: the API's caller, or "ocx" when the
// replay did not come through the guard.
func actor(ctx context.Context) string {
	if p, ok := httpauth.FromContext(ctx); ok && p.ID != "" {
		return p.ID
	}
	return "ocx"
}

// BadRowsPage is the body of GET /v1/badrows.
type BadRowsPage struct {
	BadRows []BadRow `json:"bad_rows"`
	Next    string   `json:"next,omitempty"`
}

// Routes registers the webhook endpoint and the operators' bad-row routes.
func Routes(mux *http.ServeMux, s *Service, r *Replayer, guard httpauth.Guard) {
	mux.Handle("/v1/webhooks/{channel}", s)
	mux.Handle("GET /v1/badrows", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		limit := 50
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 500 {
				httpjson.Error(w, http.StatusBadRequest, "limit must be 1-500")
				return
			}
			limit = n
		}
		state := q.Get("state")
		if state != "" && state != StateQuarantined && state != StateReplayed {
			httpjson.Error(w, http.StatusBadRequest, "state must be quarantined or replayed")
			return
		}
		rows, next, err := r.Quarantine.List(req.Context(), Filter{Channel: q.Get("channel"), State: state}, q.Get("cursor"), limit)
		if errors.Is(err, ErrBadCursor) {
			httpjson.Error(w, http.StatusBadRequest, "cursor is not one this API issued; start again without it")
			return
		}
		if err != nil {
			s.Log.Error("list bad rows", "err", err)
			w.Header().Set("Retry-After", "5")
			httpjson.Error(w, http.StatusServiceUnavailable, "could not list bad rows; try again")
			return
		}
		if rows == nil {
			rows = []BadRow{}
		}
		httpjson.Write(w, http.StatusOK, BadRowsPage{BadRows: rows, Next: next})
	})))
	mux.Handle("POST /v1/badrows/replay", guard.Wrap(bulkReplayHandler(s, r)))
	mux.Handle("POST /v1/badrows/{id}/replay", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		res, err := r.Replay(req.Context(), req.PathValue("id"))
		switch {
		case errors.Is(err, ErrNotFound):
			httpjson.Error(w, http.StatusNotFound, err.Error())
		case errors.Is(err, ErrReplayBusy), errors.Is(err, ErrReplayRace):
			w.Header().Set("Retry-After", retryAfter)
			httpjson.Error(w, http.StatusConflict, err.Error())
		case err != nil:
			s.Log.Error("replay bad row", "id", req.PathValue("id"), "err", err)
			w.Header().Set("Retry-After", "5")
			httpjson.Error(w, http.StatusServiceUnavailable, err.Error())
		default:
			httpjson.Write(w, http.StatusOK, res)
		}
	})))
}
