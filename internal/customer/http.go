package customer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/httpjson"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/lazyregexp"
)

// Routes registers the customer endpoints on mux, each behind guard:
//
//	GET    /v1/customers/{id}          the customer (a merged id shows its survivor)
//	GET    /v1/customers?key=<key>     the customer an identity key points at
//	DELETE /v1/customers/{id}          erase it (?request_ref= records the operator's reference)
//	POST   /v1/customers/{id}/unmerge  undo the merge of {id} into another customer
//	GET    /v1/raw?ref=firehose://…    an interaction's archived raw payload
//
// GET takes ?interactions=N (default DefaultRecent, at most MaxRecent).
func Routes(mux *http.ServeMux, s *Service, guard httpauth.Guard) {
	mux.Handle("GET /v1/customers/{id}", guard.Wrap(http.HandlerFunc(s.get)))
	mux.Handle("GET /v1/customers", guard.Wrap(http.HandlerFunc(s.lookup)))
	mux.Handle("DELETE /v1/customers/{id}", guard.Wrap(http.HandlerFunc(s.erase)))
	mux.Handle("POST /v1/customers/{id}/unmerge", guard.Wrap(http.HandlerFunc(s.unmergeHTTP)))
	mux.Handle("GET /v1/raw", guard.Wrap(http.HandlerFunc(s.raw)))
}

// RawReader reads a raw payload back from the archive (internal/archive).
type RawReader interface {
	Get(ctx context.Context, uri string) ([]byte, error)
}

// raw serves GET /v1/raw?ref=<reference>: the archived record of a
// delivery (its verified body and headers, credentials removed), which an
// interaction's "raw" names (firehose://… for a record of a channel's
// delivery stream, s3://<archive bucket>/<key> for an object). Only
// references into the archive are read; an erased customer's records hold
// only the erasure's mark.
func (s *Service) raw(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("ref")
	rd, ok := s.Archive.(RawReader)
	switch {
	case !ok:
		httpjson.Error(w, http.StatusNotImplemented, "no raw archive is configured")
		return
	case !s.Archive.Holds(ref):
		httpjson.Error(w, http.StatusBadRequest, "ref must be a reference into the raw archive, as an interaction's raw field gives it")
		return
	}
	body, err := rd.Get(r.Context(), ref)
	if err != nil {
		s.Log.Warn("read raw payload", "ref", ref, "err", err)
		httpjson.Error(w, http.StatusNotFound, "no raw payload at that reference")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if json.Valid(body) {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

var (
	idShape  = lazyregexp.Bounded(`^cus_[0-9a-f]+$`, 4+64) // ^cus_[0-9a-f]{1,64}$
	refShape = lazyregexp.Bounded(`^[A-Za-z0-9._-]+$`, 64) // ^[A-Za-z0-9._-]{1,64}$
)

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	id, ok := customerID(w, r)
	if !ok {
		return
	}
	recent, ok := recentParam(w, r)
	if !ok {
		return
	}
	v, err := s.Get(r.Context(), id, recent)
	if err != nil {
		s.fail(w, "read customer", id, err)
		return
	}
	httpjson.Write(w, http.StatusOK, v)
}

func (s *Service) lookup(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("key")
	if raw == "" {
		httpjson.Error(w, http.StatusBadRequest, "key is required, e.g. ?key=email:ann@example.com or ?key=phone:%2B14155550100")
		return
	}
	k, err := identity.ParseKey(raw)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	recent, ok := recentParam(w, r)
	if !ok {
		return
	}
	v, err := s.Lookup(r.Context(), k, recent)
	if err != nil {
		// The key itself is personal data: it is not logged.
		s.fail(w, "look up customer by "+k.Kind(), "", err)
		return
	}
	httpjson.Write(w, http.StatusOK, v)
}

// ErasureResponse is the body of DELETE /v1/customers/{id}.
type ErasureResponse struct {
	Erasure Erasure `json:"erasure"`
}

func (s *Service) erase(w http.ResponseWriter, r *http.Request) {
	id, ok := customerID(w, r)
	if !ok {
		return
	}
	ref := r.URL.Query().Get("request_ref")
	if ref != "" && !refShape.MatchString(ref) {
		httpjson.Error(w, http.StatusBadRequest, "request_ref: up to 64 letters, digits, '.', '_' or '-' (a ticket number, not a name or address)")
		return
	}
	e, err := s.Erase(r.Context(), id, ref)
	if err != nil {
		s.fail(w, "erase customer", id, err)
		return
	}
	httpjson.Write(w, http.StatusOK, ErasureResponse{Erasure: e})
}

// UnmergeResponse is the body of POST /v1/customers/{id}/unmerge.
type UnmergeResponse struct {
	Unmerge UnmergeResult `json:"unmerge"`
}

func (s *Service) unmergeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := customerID(w, r)
	if !ok {
		return
	}
	res, err := s.Unmerge(r.Context(), id)
	if err != nil {
		s.fail(w, "unmerge customer", id, err)
		return
	}
	httpjson.Write(w, http.StatusOK, UnmergeResponse{Unmerge: res})
}

func customerID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !idShape.MatchString(id) {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("customer id %q: want cus_ and hex digits", id))
		return "", false
	}
	return id, true
}

func recentParam(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.URL.Query().Get("interactions")
	if v == "" {
		return DefaultRecent, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > MaxRecent {
		httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("interactions %q: want 0 to %d", v, MaxRecent))
		return 0, false
	}
	return n, true
}

// fail maps service errors to status codes at the edge.
func (s *Service) fail(w http.ResponseWriter, what, id string, err error) {
	var erased *ErasedError
	switch {
	case errors.As(err, &erased):
		httpjson.Write(w, http.StatusGone, struct {
			Error   httpjson.ErrorDetail `json:"error"`
			Erasure Erasure              `json:"erasure"`
		}{httpjson.ErrorDetail{Status: http.StatusGone, Message: err.Error()}, erased.Erasure})
	case errors.Is(err, ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "no such customer")
	case errors.Is(err, ErrNotMerged), errors.Is(err, ErrMergedAway):
		httpjson.Error(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrConflict):
		w.Header().Set("Retry-After", "1")
		httpjson.Error(w, http.StatusServiceUnavailable, "the customer is changing right now; retry")
	default:
		s.Log.Error(what, "customer_id", id, "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "could not "+what+"; try again")
	}
}
