// Package channelhealth answers how each channel's intake is doing: what
// it sent over a window (from the ingest function's per-minute tallies),
// when it last delivered, and the failures currently open about it.
package channelhealth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpjson"
)

// Counts sums a channel's tallies over a window.
type Counts struct {
	Accepted          int `json:"accepted"`
	Duplicate         int `json:"duplicate"`
	RejectedSignature int `json:"rejected_signature"`
	RejectedOther     int `json:"rejected_other"`
	Unavailable       int `json:"unavailable"`
	Events            int `json:"events"`
	Ignored           int `json:"ignored"`
	Quarantined       int `json:"quarantined"`
}

// Add folds one tally into c.
func (c *Counts) Add(t events.IntakeTally) {
	c.Accepted += t.Accepted
	c.Duplicate += t.Duplicate
	c.RejectedSignature += t.RejectedSignature
	c.RejectedOther += t.RejectedOther
	c.Unavailable += t.Unavailable
	c.Events += t.Events
	c.Ignored += t.Ignored
	c.Quarantined += t.Quarantined
}

// Tallies reads what the ingest function recorded of a channel.
type Tallies interface {
	// Window sums the channel's minutes in [from, to).
	Window(ctx context.Context, channel string, from, to time.Time) (Counts, error)
	// LastAccepted is the channel's last accepted delivery, zero if none.
	LastAccepted(ctx context.Context, channel string) (time.Time, error)
}

// Failures lists failures (failure.Store's List).
type Failures interface {
	List(ctx context.Context, f failure.Filter, cursor string, limit int) ([]events.Failure, string, error)
}

// Channel is one configured channel.
type Channel struct {
	ID   string
	Kind string
}

// Health is one channel's answer.
type Health struct {
	ID             string         `json:"id"`
	Kind           string         `json:"kind"`
	From           time.Time      `json:"from"`
	To             time.Time      `json:"to"`
	Counts         Counts         `json:"counts"`
	LastAcceptedAt *time.Time     `json:"last_accepted_at"`
	Failures       []FailureBrief `json:"failures"`
}

// FailureBrief is a current failure about a channel.
type FailureBrief struct {
	ID         string    `json:"id"`
	Rule       string    `json:"rule"`
	Severity   string    `json:"severity"`
	State      string    `json:"state"`
	DetectedAt time.Time `json:"detected_at"`
	Runbook    string    `json:"runbook,omitempty"`
}

// Service answers GET /v1/channels and /v1/channels/{id}.
type Service struct {
	Channels []Channel
	Tallies  Tallies
	Failures Failures
	Now      func() time.Time
	Log      *slog.Logger
}

// Windows a caller may ask for.
const (
	DefaultWindow = time.Hour
	MaxWindow     = 7 * 24 * time.Hour
)

// maxCurrentFailures bounds the open and acknowledged failures read to
// find a channel's; more than that are a bigger problem than this view.
const maxCurrentFailures = 500

// Health answers for the channels in ids (all when empty) over the window
// ending now.
func (s *Service) Health(ctx context.Context, ids []string, window time.Duration) ([]Health, error) {
	to := s.Now().UTC().Truncate(time.Minute).Add(time.Minute)
	from := to.Add(-window)
	current, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	var out []Health
	for _, c := range s.Channels {
		if len(ids) > 0 && !slices.Contains(ids, c.ID) {
			continue
		}
		counts, err := s.Tallies.Window(ctx, c.ID, from, to)
		if err != nil {
			return nil, fmt.Errorf("tallies of channel %s: %w", c.ID, err)
		}
		h := Health{ID: c.ID, Kind: c.Kind, From: from, To: to, Counts: counts, Failures: current[c.ID]}
		last, err := s.Tallies.LastAccepted(ctx, c.ID)
		if err != nil {
			return nil, fmt.Errorf("last delivery of channel %s: %w", c.ID, err)
		}
		if !last.IsZero() {
			h.LastAcceptedAt = &last
		}
		if h.Failures == nil {
			h.Failures = []FailureBrief{}
		}
		out = append(out, h)
	}
	return out, nil
}

// current groups the open and acknowledged failures by the channel their
// evidence names.
func (s *Service) current(ctx context.Context) (map[string][]FailureBrief, error) {
	out := map[string][]FailureBrief{}
	for _, state := range []string{failure.Open, failure.Acknowledged} {
		cursor := ""
		for read := 0; read < maxCurrentFailures; {
			page, next, err := s.Failures.List(ctx, failure.Filter{State: state}, cursor, 100)
			if err != nil {
				return nil, fmt.Errorf("list %s failures: %w", state, err)
			}
			read += len(page)
			for _, f := range page {
				seen := map[string]bool{}
				for _, e := range f.Evidence {
					if e.Channel == "" || seen[e.Channel] {
						continue
					}
					seen[e.Channel] = true
					out[e.Channel] = append(out[e.Channel], FailureBrief{ID: f.ID, Rule: f.RuleID, Severity: f.Severity, State: state, DetectedAt: f.DetectedAt, Runbook: f.Runbook})
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return out, nil
}

// Page is the body of GET /v1/channels.
type Page struct {
	Channels []Health `json:"channels"`
}

// Routes registers the analysts' channel routes.
func Routes(mux *http.ServeMux, s *Service, guard httpauth.Guard) {
	answer := func(w http.ResponseWriter, r *http.Request, ids []string) ([]Health, bool) {
		window := DefaultWindow
		if v := r.URL.Query().Get("window"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Minute || d > MaxWindow {
				httpjson.Error(w, http.StatusBadRequest, "window must be a duration from 1m to 168h, e.g. 1h")
				return nil, false
			}
			window = d.Truncate(time.Minute)
		}
		hs, err := s.Health(r.Context(), ids, window)
		if err != nil {
			s.Log.Error("channel health", "err", err)
			w.Header().Set("Retry-After", "5")
			httpjson.Error(w, http.StatusServiceUnavailable, "could not read the channels' intake; try again")
			return nil, false
		}
		return hs, true
	}
	mux.Handle("GET /v1/channels", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hs, ok := answer(w, r, nil); ok {
			if hs == nil {
				hs = []Health{}
			}
			httpjson.Write(w, http.StatusOK, Page{Channels: hs})
		}
	})))
	mux.Handle("GET /v1/channels/{id}", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !slices.ContainsFunc(s.Channels, func(c Channel) bool { return c.ID == id }) {
			httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("no channel %q is configured", id))
			return
		}
		if hs, ok := answer(w, r, []string{id}); ok {
			httpjson.Write(w, http.StatusOK, hs[0])
		}
	})))
}
