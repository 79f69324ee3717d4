package loop

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpjson"
)

// Routes registers the loop routes of the analysts' API:
//
//	GET  /v1/failures/{id}/loop        the failure's loop: ticket, follow-up, outcome
//	POST /v1/failures/{id}/contacted   the caller reached the customer outside any channel OCX hears
func Routes(mux *http.ServeMux, svc *Service, guard httpauth.Guard, log *slog.Logger) {
	answer := func(w http.ResponseWriter, id string, r Record, err error, what string) {
		switch {
		case errors.Is(err, ErrNotFound):
			httpjson.Error(w, http.StatusNotFound, "no loop for failure "+strconv.Quote(id)+" (it has no customer and its rule asks for nothing)")
		case err != nil:
			log.Error(what, "failure_id", id, "err", err)
			httpjson.Error(w, http.StatusInternalServerError, "could not "+what+"; try again")
		default:
			httpjson.Write(w, http.StatusOK, view(r))
		}
	}
	mux.Handle("GET /v1/failures/{id}/loop", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		rec, err := svc.Store.Get(r.Context(), id)
		answer(w, id, rec, err, "read the loop")
	})))
	mux.Handle("POST /v1/failures/{id}/contacted", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		rec, err := svc.Contacted(r.Context(), id, httpauth.Actor(r))
		answer(w, id, rec, err, "record the contact")
	})))
}

// Loop is a loop as the API shows it.
type Loop struct {
	events.FailureLoop
	// TicketError says why no ticket was opened, when one was asked for.
	TicketError string `json:"ticket_error,omitempty"`
}

func view(r Record) Loop {
	l := Loop{FailureLoop: r.FailureLoop}
	if r.TicketID == "" {
		l.TicketError = r.TicketError
	}
	return l
}
