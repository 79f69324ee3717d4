package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/httpjson"
)

// BulkRequest is the body of POST /v1/badrows/replay: which quarantined
// rows, whether to replay them or only say what a replay would do, and
// where in the listing this call starts. One call examines at most Limit
// rows so it ends well within the API's timeout; the caller pages with
// Cursor and so sets the pace.
type BulkRequest struct {
	Channel string `json:"channel,omitempty"`
	// Reason matches rows with a reason containing it (case-insensitive).
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	Until  time.Time `json:"until,omitzero"`
	DryRun bool      `json:"dry_run"`
	Limit  int       `json:"limit,omitempty"`
	Cursor string    `json:"cursor,omitempty"`
}

// bulkBudget bounds the time one bulk call spends replaying, well within
// API Gateway's 30 seconds and the ingest function's timeout; bulkMargin
// is what it leaves before a context's deadline.
const (
	bulkBudget = Deadline
	bulkMargin = 3 * time.Second
)

// Bulk replay page sizes: rows examined by one call.
const (
	DefaultBulkLimit = 50
	MaxBulkLimit     = 200
)

// ReasonCount is what a bulk replay found for one reason: the matching
// rows whose first reason it is, how many of them the current mapping now
// accepts in full, and the events they publish (or would).
type ReasonCount struct {
	Reason   string `json:"reason"`
	Rows     int    `json:"rows"`
	Accepted int    `json:"accepted"`
	Events   int    `json:"events"`
}

// BulkReport is what one call of a bulk replay did, or would do.
type BulkReport struct {
	DryRun bool `json:"dry_run"`
	// Examined rows were read from the quarantine; Matched passed the
	// reason filter.
	Examined int `json:"examined"`
	Matched  int `json:"matched"`
	// Accepted rows map in full now (replayed, or would be); Remaining
	// rows still hold items that do not.
	Accepted  int `json:"accepted"`
	Remaining int `json:"remaining"`
	// Events published, or that a replay would publish.
	Events   int           `json:"events"`
	ByReason []ReasonCount `json:"by_reason"`
	// Failed lists rows this call could not replay (another replay held
	// them, the archive did not answer); a later call retries them.
	Failed []BulkFailure `json:"failed,omitempty"`
	Next   string        `json:"next,omitempty"`
}

// BulkFailure is one row a bulk replay could not handle.
type BulkFailure struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// Add folds another page's report into r (the CLI sums pages).
func (r *BulkReport) Add(o BulkReport) {
	r.Examined += o.Examined
	r.Matched += o.Matched
	r.Accepted += o.Accepted
	r.Remaining += o.Remaining
	r.Events += o.Events
	r.Failed = append(r.Failed, o.Failed...)
	for _, c := range o.ByReason {
		r.count(c.Reason, c.Rows, c.Accepted, c.Events)
	}
}

func (r *BulkReport) count(reason string, rows, accepted, evs int) {
	i := slices.IndexFunc(r.ByReason, func(c ReasonCount) bool { return c.Reason == reason })
	if i < 0 {
		r.ByReason = append(r.ByReason, ReasonCount{Reason: reason})
		i = len(r.ByReason) - 1
	}
	r.ByReason[i].Rows += rows
	r.ByReason[i].Accepted += accepted
	r.ByReason[i].Events += evs
}

// maxReasonKey bounds a reason as a grouping key: long reasons carry an
// item's particulars, their start says what went wrong.
const maxReasonKey = 120

// reasonKey groups a row by its first reason about an item not kept,
// with the particulars that make every row's reason unique (ids, times:
// long words with digits in them) written as "*", so a thousand rows of
// one mapping gap are one line.
func reasonKey(row BadRow) string {
	for _, rs := range row.Reasons {
		if !rs.Kept {
			words := strings.Fields(rs.Reason)
			for i, w := range words {
				if len(w) >= 8 && strings.ContainsAny(w, "0123456789") {
					words[i] = "*"
				}
			}
			return shorten(strings.Join(words, " "), maxReasonKey)
		}
	}
	return "(none)"
}

func (q BulkRequest) matches(row BadRow) bool {
	if q.Reason == "" {
		return true
	}
	want := strings.ToLower(q.Reason)
	return slices.ContainsFunc(row.Reasons, func(rs Reason) bool { return strings.Contains(strings.ToLower(rs.Reason), want) })
}

// Bulk examines one page of quarantined rows matching q and replays them,
// or with DryRun only re-maps them and says what a replay would publish.
// Replaying is idempotent row by row (see Replay): a row replayed twice
// publishes its events once.
func (r *Replayer) Bulk(ctx context.Context, q BulkRequest) (BulkReport, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultBulkLimit
	}
	limit = min(limit, MaxBulkLimit)
	rows, next, err := r.Quarantine.List(ctx, Filter{Channel: q.Channel, State: StateQuarantined, Since: q.Since, Until: q.Until}, q.Cursor, limit)
	if err != nil {
		return BulkReport{}, err
	}
	rep := BulkReport{DryRun: q.DryRun, Next: next, ByReason: []ReasonCount{}}
	budget := r.BulkBudget
	if budget <= 0 {
		budget = bulkBudget
	}
	stopBy := time.Now().Add(budget)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-bulkMargin).Before(stopBy) {
		stopBy = dl.Add(-bulkMargin)
	}
	for i, row := range rows {
		// Time bounds a call, not the clock OCX reasons with: replaying
		// costs what the stores and the bus take, and the caller pages on.
		if i > 0 && time.Now().After(stopBy) {
			rep.Next = r.Quarantine.After(rows[i-1], StateQuarantined)
			break
		}
		rep.Examined++
		if !q.matches(row) {
			continue
		}
		rep.Matched++
		key := reasonKey(row)
		var evs, left int
		if q.DryRun {
			fresh, rejects, err := r.remap(ctx, row)
			if err != nil {
				rep.Failed = append(rep.Failed, BulkFailure{ID: row.ID, Error: err.Error()})
				rep.count(key, 1, 0, 0)
				continue
			}
			evs, left = len(fresh), len(rejects)
		} else {
			res, err := r.Replay(ctx, row.ID)
			if err != nil {
				rep.Failed = append(rep.Failed, BulkFailure{ID: row.ID, Error: err.Error()})
				rep.count(key, 1, 0, 0)
				continue
			}
			evs = len(res.Published)
			if res.Row.State != StateReplayed {
				left = max(len(res.Row.Reasons), 1)
			}
		}
		acc := 0
		if left == 0 {
			acc = 1
			rep.Accepted++
		} else {
			rep.Remaining++
		}
		rep.Events += evs
		rep.count(key, 1, acc, evs)
	}
	return rep, nil
}

// maxBulkBody bounds the request body of a bulk replay.
const maxBulkBody = 16 << 10

func bulkReplayHandler(s *Service, r *Replayer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var q BulkRequest
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBulkBody))
		if err == nil && len(body) > 0 {
			err = json.Unmarshal(body, &q)
		}
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("body must be {channel, reason, since, until, dry_run, limit, cursor}: %v", err))
			return
		}
		switch {
		case q.Limit < 0 || q.Limit > MaxBulkLimit:
			httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("limit must be 1-%d", MaxBulkLimit))
			return
		case !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until):
			httpjson.Error(w, http.StatusBadRequest, "since must be before until")
			return
		}
		rep, err := r.Bulk(req.Context(), q)
		switch {
		case errors.Is(err, ErrBadCursor):
			httpjson.Error(w, http.StatusBadRequest, "cursor is not one this API issued; start again without it")
		case err != nil:
			s.Log.Error("bulk replay", "err", err)
			w.Header().Set("Retry-After", "5")
			httpjson.Error(w, http.StatusServiceUnavailable, "could not list bad rows; try again")
		default:
			s.Log.Info("bulk replay", "dry_run", q.DryRun, "channel", q.Channel, "examined", rep.Examined, "matched", rep.Matched, "accepted", rep.Accepted, "events", rep.Events, "failed", len(rep.Failed))
			httpjson.Write(w, http.StatusOK, rep)
		}
	})
}
