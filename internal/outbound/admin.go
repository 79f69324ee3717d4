package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpjson"
)

// Commands hands the outbound function work the API asked for (over the
// bus in AWS, as a TypeReplay event of Source).
type Commands interface {
	Replay(ctx context.Context, cmd ReplayCommand) error
}

// Admin is what operators and analysts do with endpoints and deliveries.
type Admin struct {
	Subscriptions []Subscription
	Deliveries    Deliveries
	Endpoints     Endpoints
	Commands      Commands
	Now           func() time.Time
	Log           *slog.Logger
}

// ErrDisabled refuses a replay to a disabled endpoint.
var ErrDisabled = errors.New("endpoint disabled: enable it first")

// MaxReplay bounds the deliveries one replay-failed call reopens; call it
// again for more.
const MaxReplay = 1000

// replayBatch is how many deliveries one command names, well inside an
// event's 256 KB.
const replayBatch = 100

// Endpoint is a subscription with its state, as the API lists it.
type Endpoint struct {
	ID          string          `json:"id"`
	Description string          `json:"description,omitempty"`
	URL         string          `json:"url"`
	Active      bool            `json:"active"`
	Pattern     json.RawMessage `json:"pattern"`
	Secret      string          `json:"secret"`
	State       EndpointState   `json:"state"`
}

func (a *Admin) subscription(id string) (Subscription, bool) {
	i := slices.IndexFunc(a.Subscriptions, func(s Subscription) bool { return s.ID == id })
	if i < 0 {
		return Subscription{}, false
	}
	return a.Subscriptions[i], true
}

// List returns every subscription with its state.
func (a *Admin) List(ctx context.Context) ([]Endpoint, error) {
	out := make([]Endpoint, 0, len(a.Subscriptions))
	for _, s := range a.Subscriptions {
		e, err := a.endpoint(ctx, s)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func (a *Admin) endpoint(ctx context.Context, s Subscription) (Endpoint, error) {
	st, err := a.Endpoints.Get(ctx, s.ID)
	if err != nil {
		return Endpoint{}, fmt.Errorf("read endpoint %s: %w", s.ID, err)
	}
	// The url as configured: a ${VAR} stays a reference, and a literal
	// loses any query or user info, which may carry a token.
	u := s.URLTemplate
	if !envRef.MatchString(u) {
		u = redactURL(u)
	}
	return Endpoint{ID: s.ID, Description: s.Description, URL: u, Active: s.Active(), Pattern: json.RawMessage(s.Pattern), Secret: s.Secret, State: st}, nil
}

// Enable enables an endpoint again. Deliveries that failed meanwhile stay
// failed until replayed.
func (a *Admin) Enable(ctx context.Context, id, by string) (Endpoint, error) {
	s, ok := a.subscription(id)
	if !ok {
		return Endpoint{}, fmt.Errorf("endpoint %s: %w", id, ErrNotFound)
	}
	if err := a.Endpoints.Enable(ctx, id, a.Now(), by); err != nil {
		return Endpoint{}, fmt.Errorf("enable endpoint %s: %w", id, err)
	}
	a.Log.Info("outbound endpoint enabled", "endpoint", id, "by", by)
	return a.endpoint(ctx, s)
}

// Replay sends one delivery again, whatever its status was (a delivered
// one too: the receiver asked for it), with a new round of retries.
func (a *Admin) Replay(ctx context.Context, id string) (Delivery, error) {
	d, err := a.Deliveries.Get(ctx, id)
	if err != nil {
		return Delivery{}, fmt.Errorf("delivery %s: %w", id, err)
	}
	if err := a.enabled(ctx, d.Endpoint); err != nil {
		return Delivery{}, err
	}
	if d.Status == StatusPending {
		return d, nil
	}
	if _, err := a.Deliveries.Reopen(ctx, d, a.Now()); err != nil {
		return Delivery{}, fmt.Errorf("reopen delivery %s: %w", id, err)
	}
	if err := a.Commands.Replay(ctx, ReplayCommand{Deliveries: []string{id}}); err != nil {
		return Delivery{}, fmt.Errorf("ask for the replay of %s: %w", id, err)
	}
	return a.Deliveries.Get(ctx, id)
}

func (a *Admin) enabled(ctx context.Context, endpoint string) error {
	if _, ok := a.subscription(endpoint); !ok {
		return fmt.Errorf("endpoint %s is no longer configured: %w", endpoint, ErrNotFound)
	}
	st, err := a.Endpoints.Get(ctx, endpoint)
	if err != nil {
		return fmt.Errorf("read endpoint %s: %w", endpoint, err)
	}
	if st.Disabled {
		return fmt.Errorf("endpoint %s: %w", endpoint, ErrDisabled)
	}
	return nil
}

// ReplayFailed sends an endpoint's failed deliveries again, up to
// MaxReplay of them; more says whether some are left.
func (a *Admin) ReplayFailed(ctx context.Context, endpoint string) (n int, more bool, err error) {
	if err := a.enabled(ctx, endpoint); err != nil {
		return 0, false, err
	}
	var ids []string
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		if err := a.Commands.Replay(ctx, ReplayCommand{Deliveries: ids}); err != nil {
			return fmt.Errorf("ask for the replay of %d deliveries to %s: %w", len(ids), endpoint, err)
		}
		ids = nil
		return nil
	}
	for n < MaxReplay {
		// Reopened deliveries leave the failed ones, so each page starts
		// from the top.
		page, _, err := a.Deliveries.List(ctx, Query{Endpoint: endpoint, Status: StatusFailed, Limit: min(replayBatch, MaxReplay-n)})
		if err != nil {
			return n, false, fmt.Errorf("list failed deliveries of %s: %w", endpoint, err)
		}
		if len(page) == 0 {
			break
		}
		for _, d := range page {
			ok, err := a.Deliveries.Reopen(ctx, d, a.Now())
			if err != nil {
				return n, false, fmt.Errorf("reopen delivery %s: %w", d.ID, err)
			}
			if ok {
				ids = append(ids, d.ID)
				n++
			}
		}
		if err := flush(); err != nil {
			return n, false, err
		}
	}
	if n >= MaxReplay {
		page, _, err := a.Deliveries.List(ctx, Query{Endpoint: endpoint, Status: StatusFailed, Limit: 1})
		if err != nil {
			return n, false, fmt.Errorf("list failed deliveries of %s: %w", endpoint, err)
		}
		more = len(page) > 0
	}
	a.Log.Info("failed outbound deliveries replayed", "endpoint", endpoint, "count", n, "more", more)
	return n, more, nil
}

// DeliveryView is a delivery with its attempts.
type DeliveryView struct {
	Delivery
	AttemptLog []Attempt `json:"attempt_log"`
}

// Routes mounts the outbound API on mux.
func Routes(mux *http.ServeMux, a *Admin, guard httpauth.Guard) {
	fail := func(w http.ResponseWriter, err error, what string) {
		switch {
		case errors.Is(err, ErrNotFound):
			httpjson.Error(w, http.StatusNotFound, err.Error())
		case errors.Is(err, ErrBadCursor):
			httpjson.Error(w, http.StatusBadRequest, "cursor: not one this API gave")
		case errors.Is(err, ErrDisabled):
			httpjson.Error(w, http.StatusConflict, err.Error())
		default:
			a.Log.Error(what, "err", err)
			w.Header().Set("Retry-After", "5")
			httpjson.Error(w, http.StatusServiceUnavailable, what+" failed; try again")
		}
	}
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, guard.Wrap(h)) }
	handle("GET /v1/outbound/endpoints", func(w http.ResponseWriter, r *http.Request) {
		eps, err := a.List(r.Context())
		if err != nil {
			fail(w, err, "list outbound endpoints")
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"endpoints": eps})
	})
	handle("POST /v1/outbound/endpoints/{id}/enable", func(w http.ResponseWriter, r *http.Request) {
		e, err := a.Enable(r.Context(), r.PathValue("id"), httpauth.Actor(r))
		if err != nil {
			fail(w, err, "enable outbound endpoint")
			return
		}
		httpjson.Write(w, http.StatusOK, e)
	})
	handle("POST /v1/outbound/endpoints/{id}/replay-failed", func(w http.ResponseWriter, r *http.Request) {
		n, more, err := a.ReplayFailed(r.Context(), r.PathValue("id"))
		if err != nil {
			fail(w, err, "replay failed outbound deliveries")
			return
		}
		httpjson.Write(w, http.StatusAccepted, map[string]any{"replayed": n, "more": more})
	})
	handle("GET /v1/outbound/deliveries", func(w http.ResponseWriter, r *http.Request) {
		q := Query{Endpoint: r.URL.Query().Get("endpoint"), Status: r.URL.Query().Get("status"), Cursor: r.URL.Query().Get("cursor"), Limit: 50}
		if _, ok := a.subscription(q.Endpoint); !ok {
			httpjson.Error(w, http.StatusBadRequest, "endpoint must name a configured subscription (GET /v1/outbound/endpoints)")
			return
		}
		if q.Status != "" && !slices.Contains(Statuses, q.Status) {
			httpjson.Error(w, http.StatusBadRequest, "status must be pending, delivered or failed")
			return
		}
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 200 {
				httpjson.Error(w, http.StatusBadRequest, "limit must be 1-200")
				return
			}
			q.Limit = n
		}
		ds, next, err := a.Deliveries.List(r.Context(), q)
		if err != nil {
			fail(w, err, "list outbound deliveries")
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"deliveries": ds, "next_cursor": next})
	})
	handle("GET /v1/outbound/deliveries/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, err := a.Deliveries.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			fail(w, fmt.Errorf("delivery %s: %w", r.PathValue("id"), err), "read outbound delivery")
			return
		}
		as, err := a.Deliveries.Attempts(r.Context(), d.ID)
		if err != nil {
			fail(w, err, "read outbound delivery")
			return
		}
		httpjson.Write(w, http.StatusOK, DeliveryView{Delivery: d, AttemptLog: as})
	})
	handle("POST /v1/outbound/deliveries/{id}/replay", func(w http.ResponseWriter, r *http.Request) {
		d, err := a.Replay(r.Context(), r.PathValue("id"))
		if err != nil {
			fail(w, err, "replay outbound delivery")
			return
		}
		httpjson.Write(w, http.StatusAccepted, d)
	})
}
