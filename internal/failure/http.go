package failure

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpjson"
)

// Page is the body of GET /v1/failures.
type Page struct {
	Failures []Listed `json:"failures"`
	Next     string   `json:"next,omitempty"`
}

// ErrBadCursor is what a Store returns for a page token it did not issue.
var ErrBadCursor = errors.New("bad cursor")

// Routes registers the analysts' failure routes:
//
//	GET /v1/failures?state=open|acknowledged|resolved&team=&rule=&severity=&sort=-detected_at|detected_at&limit=&cursor=
//	GET /v1/failures/{id}                 the failure, its assignment and activity
//	POST /v1/failures/{id}/acknowledge    {"note": "..."}: the step Slack's Acknowledge takes
//	POST /v1/failures/{id}/resolve        {"note": "..."}
//	POST /v1/failures/{id}/assign         {"assignee": "..."} ("" unassigns)
//	POST /v1/failures/{id}/notes          {"text": "..."}
//
// Each step is recorded with the caller the guard established.
func Routes(mux *http.ServeMux, svc *Service, guard httpauth.Guard, log *slog.Logger) {
	store := svc.Store
	mux.Handle("GET /v1/failures", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit := 50
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 500 {
				httpjson.Error(w, http.StatusBadRequest, "limit must be 1-500")
				return
			}
			limit = n
		}
		f := Filter{State: q.Get("state"), Team: q.Get("team"), Rule: q.Get("rule"), Severity: q.Get("severity")}
		if _, known := next[f.State]; f.State != "" && !known {
			httpjson.Error(w, http.StatusBadRequest, "state must be open, acknowledged or resolved")
			return
		}
		switch q.Get("sort") {
		case "", "-detected_at":
		case "detected_at":
			f.Oldest = true
		default:
			httpjson.Error(w, http.StatusBadRequest, "sort must be -detected_at (newest first, the default) or detected_at (oldest first)")
			return
		}
		page, cursor, err := store.List(r.Context(), f, q.Get("cursor"), limit)
		switch {
		case errors.Is(err, ErrBadCursor):
			httpjson.Error(w, http.StatusBadRequest, err.Error())
			return
		case err != nil:
			log.Error("list failures", "err", err)
			httpjson.Error(w, http.StatusInternalServerError, "could not list failures; try again")
			return
		}
		listed := make([]Listed, len(page))
		ids := make([]string, len(page))
		for i, f := range page {
			listed[i] = Listed{Failure: f}
			ids[i] = f.ID
		}
		if svc.Notebook != nil && len(ids) > 0 {
			as, err := svc.Notebook.Assignments(r.Context(), ids)
			if err != nil {
				log.Error("read failure assignments", "err", err)
				httpjson.Error(w, http.StatusInternalServerError, "could not list failures; try again")
				return
			}
			for i := range listed {
				if a, ok := as[listed[i].ID]; ok {
					listed[i].Assignment = &a
				}
			}
		}
		httpjson.Write(w, http.StatusOK, Page{Failures: listed, Next: cursor})
	})))
	mux.Handle("GET /v1/failures/{id}", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := svc.Detail(r.Context(), r.PathValue("id"))
		switch {
		case errors.Is(err, ErrNotFound):
			httpjson.Error(w, http.StatusNotFound, "no failure "+strconv.Quote(r.PathValue("id")))
		case err != nil:
			log.Error("read failure", "id", r.PathValue("id"), "err", err)
			httpjson.Error(w, http.StatusInternalServerError, "could not read the failure; try again")
		default:
			httpjson.Write(w, http.StatusOK, f)
		}
	})))
	actionRoutes(mux, svc, guard, log)
}

// actionBody is the body of the lifecycle POST routes; each reads the
// fields it needs.
type actionBody struct {
	Note     string  `json:"note"`
	Text     string  `json:"text"`
	Assignee *string `json:"assignee"`
}

// maxActionBody bounds an action's body: a note of MaxNote characters and
// then some.
const maxActionBody = 16 << 10

func actionRoutes(mux *http.ServeMux, svc *Service, guard httpauth.Guard, log *slog.Logger) {
	act := func(what string, do func(r *http.Request, id, by string, b actionBody) (any, error)) http.Handler {
		return guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b actionBody
			raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxActionBody))
			if err != nil {
				httpjson.Error(w, http.StatusRequestEntityTooLarge, "body too large")
				return
			}
			if len(raw) > 0 {
				if err := json.Unmarshal(raw, &b); err != nil {
					httpjson.Error(w, http.StatusBadRequest, "body: "+err.Error())
					return
				}
			}
			id := r.PathValue("id")
			out, err := do(r, id, httpauth.Actor(r), b)
			switch {
			case errors.Is(err, ErrNotFound):
				httpjson.Error(w, http.StatusNotFound, "no failure "+strconv.Quote(id))
			case errors.Is(err, ErrTransition):
				httpjson.Error(w, http.StatusConflict, err.Error())
			case errors.Is(err, ErrInvalid):
				httpjson.Error(w, http.StatusBadRequest, err.Error())
			case err != nil:
				log.Error(what+" failure", "failure_id", id, "err", err)
				httpjson.Error(w, http.StatusInternalServerError, "could not "+what+" the failure; try again")
			default:
				httpjson.Write(w, http.StatusOK, out)
			}
		}))
	}
	mux.Handle("POST /v1/failures/{id}/acknowledge", act("acknowledge", func(r *http.Request, id, by string, b actionBody) (any, error) {
		return svc.Acknowledge(r.Context(), id, by, b.Note)
	}))
	mux.Handle("POST /v1/failures/{id}/resolve", act("resolve", func(r *http.Request, id, by string, b actionBody) (any, error) {
		return svc.Resolve(r.Context(), id, by, b.Note)
	}))
	mux.Handle("POST /v1/failures/{id}/assign", act("assign", func(r *http.Request, id, by string, b actionBody) (any, error) {
		if b.Assignee == nil {
			return nil, fmt.Errorf("%w: assignee is required (\"\" unassigns)", ErrInvalid)
		}
		return svc.Assign(r.Context(), id, *b.Assignee, by)
	}))
	mux.Handle("POST /v1/failures/{id}/notes", act("note", func(r *http.Request, id, by string, b actionBody) (any, error) {
		return svc.Note(r.Context(), id, b.Text, by)
	}))
}
