package failure

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpjson"
)

// Page is the body of GET /v1/failures.
type Page struct {
	Failures []events.Failure `json:"failures"`
	Next     string           `json:"next,omitempty"`
}

// ErrBadCursor is what a Store returns for a page token it did not issue.
var ErrBadCursor = errors.New("bad cursor")

// Routes registers the analysts' failure routes:
//
//	GET /v1/failures?state=open|acknowledged|resolved&team=&rule=&severity=&sort=-detected_at|detected_at&limit=&cursor=
//	GET /v1/failures/{id}
func Routes(mux *http.ServeMux, store Store, guard httpauth.Guard, log *slog.Logger) {
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
		if page == nil {
			page = []events.Failure{}
		}
		httpjson.Write(w, http.StatusOK, Page{Failures: page, Next: cursor})
	})))
	mux.Handle("GET /v1/failures/{id}", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := store.Get(r.Context(), r.PathValue("id"))
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
}
