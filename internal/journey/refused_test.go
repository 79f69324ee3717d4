package journey_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/journey"
)

type lister struct {
	err        error
	cursor     string
	limit      int
	refusals   []journey.Refusal
	nextCursor string
}

func (l *lister) Refused(_ context.Context, cursor string, limit int) ([]journey.Refusal, string, error) {
	l.cursor, l.limit = cursor, limit
	return l.refusals, l.nextCursor, l.err
}

func TestRefusedListing(t *testing.T) {
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	l := &lister{refusals: []journey.Refusal{{ID: "ref_1", At: at, CauseEvent: "evt_1", Channel: "stripe", What: "link",
		Customers: []string{"cus_a"}, Kinds: []string{"email"}}}, nextCursor: "next"}
	mux := http.NewServeMux()
	journey.RefusedRoutes(mux, l, httpauth.Guard{Token: "t"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	get := func(path, token string) (int, []byte) {
		req := httptest.NewRequest("GET", path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w.Code, w.Body.Bytes()
	}

	code, body := get("/v1/identity/refused?limit=10&cursor=abc", "t")
	var page journey.RefusedResponse
	if code != 200 || json.Unmarshal(body, &page) != nil || len(page.Refusals) != 1 || page.Next != "next" || l.limit != 10 || l.cursor != "abc" {
		t.Fatalf("%d %s (limit %d cursor %q)", code, body, l.limit, l.cursor)
	}
	if get("/v1/identity/refused", "t"); l.limit != journey.DefaultRefusals {
		t.Errorf("default limit %d", l.limit)
	}
	for path, want := range map[string]int{
		"/v1/identity/refused?limit=0":   400,
		"/v1/identity/refused?limit=201": 400,
		"/v1/identity/refused?limit=ten": 400,
	} {
		if code, body := get(path, "t"); code != want {
			t.Errorf("%s: %d %s, want %d", path, code, body, want)
		}
	}
	if code, _ := get("/v1/identity/refused", ""); code != 401 {
		t.Errorf("no token: %d", code)
	}
	l.err = journey.ErrBadCursor
	if code, _ := get("/v1/identity/refused?cursor=forged", "t"); code != 400 {
		t.Errorf("bad cursor: %d", code)
	}
	l.err = errors.New("table unavailable")
	if code, body := get("/v1/identity/refused", "t"); code != 503 || !json.Valid(body) {
		t.Errorf("store down: %d %s", code, body)
	}
}
