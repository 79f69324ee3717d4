package silence

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpjson"
)

// Page is the body of GET /v1/silences.
type Page struct {
	Silences []Listed `json:"silences"`
}

// Listed is a silence with its state at the time of listing.
type Listed struct {
	Silence
	State string `json:"state"`
}

// MarshalJSON keeps the matchers as text and adds the state.
func (l Listed) MarshalJSON() ([]byte, error) {
	b, err := l.Silence.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["state"] = l.State
	return json.Marshal(m)
}

// maxBody bounds a create request.
const maxBody = 64 << 10

// Routes registers the silence routes:
//
//	POST   /v1/silences          create (matchers, starts_at, ends_at or duration, created_by, comment)
//	GET    /v1/silences?all=true list active and pending ones, or all
//	DELETE /v1/silences/{id}     expire now
func Routes(mux *http.ServeMux, store Store, guard httpauth.Guard, now func() time.Time, log *slog.Logger) {
	mux.Handle("POST /v1/silences", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Request
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
		s, err := New(req, now())
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := store.Put(r.Context(), s); err != nil {
			log.Error("store silence", "err", err)
			httpjson.Error(w, http.StatusInternalServerError, "could not store the silence; try again")
			return
		}
		log.Info("silence created", "silence_id", s.ID, "created_by", s.CreatedBy, "ends_at", s.EndsAt)
		httpjson.Write(w, http.StatusCreated, Listed{Silence: s, State: s.State(now())})
	})))
	mux.Handle("GET /v1/silences", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		all, _ := strconv.ParseBool(r.URL.Query().Get("all"))
		ss, err := store.List(r.Context())
		if err != nil {
			log.Error("list silences", "err", err)
			httpjson.Error(w, http.StatusInternalServerError, "could not list silences; try again")
			return
		}
		at := now()
		page := Page{Silences: []Listed{}}
		for _, s := range ss {
			if st := s.State(at); all || st != Expired {
				page.Silences = append(page.Silences, Listed{Silence: s, State: st})
			}
		}
		httpjson.Write(w, http.StatusOK, page)
	})))
	mux.Handle("DELETE /v1/silences/{id}", guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := now()
		s, err := store.Expire(r.Context(), r.PathValue("id"), at)
		switch {
		case errors.Is(err, ErrNotFound):
			httpjson.Error(w, http.StatusNotFound, "no silence "+strconv.Quote(r.PathValue("id")))
		case err != nil:
			log.Error("expire silence", "silence_id", r.PathValue("id"), "err", err)
			httpjson.Error(w, http.StatusInternalServerError, "could not expire the silence; try again")
		default:
			log.Info("silence expired", "silence_id", s.ID)
			httpjson.Write(w, http.StatusOK, Listed{Silence: s, State: s.State(at)})
		}
	})))
}
