package journey

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpjson"
)

// ErrBadCursor means a listing's cursor is not one the API issued.
var ErrBadCursor = errors.New("cursor is not one this API issued")

// RefusalLister lists what the identity guardrails refused, newest first.
type RefusalLister interface {
	Refused(ctx context.Context, cursor string, limit int) ([]Refusal, string, error)
}

// Listing limits of GET /v1/identity/refused.
const (
	DefaultRefusals = 50
	MaxRefusals     = 200
)

// RefusedResponse is the body of GET /v1/identity/refused.
type RefusedResponse struct {
	Refusals []Refusal `json:"refusals"`
	// Next, when set, is the cursor of the next page.
	Next string `json:"next,omitempty"`
}

// RefusedRoutes registers, behind guard:
//
//	GET /v1/identity/refused?limit=&cursor=   merges and links the guardrails refused, newest first
//
// A refusal names customers, its cause event and the key kinds over their
// limits, never a key's value.
func RefusedRoutes(mux *http.ServeMux, l RefusalLister, guard httpauth.Guard, log *slog.Logger) {
	mux.Handle("GET /v1/identity/refused", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := DefaultRefusals
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxRefusals {
				httpjson.Error(w, http.StatusBadRequest, "limit must be a whole number from 1 to "+strconv.Itoa(MaxRefusals))
				return
			}
			limit = n
		}
		list, next, err := l.Refused(r.Context(), r.URL.Query().Get("cursor"), limit)
		switch {
		case errors.Is(err, ErrBadCursor):
			httpjson.Error(w, http.StatusBadRequest, ErrBadCursor.Error())
			return
		case err != nil:
			log.Error("list identity refusals", "err", err)
			httpjson.Error(w, http.StatusServiceUnavailable, "refusals cannot be read right now; retry")
			return
		}
		httpjson.Write(w, http.StatusOK, RefusedResponse{Refusals: list, Next: next})
	})))
}
