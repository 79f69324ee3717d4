package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// /healthz is readiness: 200 only while every dependency answers; a
// dependency that errs or stalls past ReadyTimeout makes it 503.
func TestHealthzChecksDependencies(t *testing.T) {
	var failing error
	stalled := make(chan struct{})
	defer close(stalled)
	stall := false
	s := &Server{Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Ready: []Check{
		{"metrics table", func(ctx context.Context) error { return failing }},
		{"failures table", func(ctx context.Context) error {
			if !stall {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-stalled:
				return nil
			}
		}},
	}}
	mux := http.NewServeMux()
	s.Routes(mux)
	get := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
		return w
	}
	w := get()
	var ok Readiness
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &ok) != nil || ok.Checks["metrics table"] != "ok" {
		t.Fatalf("healthy: %d %s", w.Code, w.Body)
	}
	failing = errors.New("ResourceNotFoundException")
	if w := get(); w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `not ready: metrics table`) {
		t.Fatalf("failing dependency: %d %s", w.Code, w.Body)
	}
	// A stalled dependency never answers here: the probe ends at
	// ReadyTimeout and says so.
	failing, stall = nil, true
	if w := get(); w.Code != 503 || !strings.Contains(w.Body.String(), "failures table") {
		t.Fatalf("stalled dependency: %d %s", w.Code, w.Body)
	}
}
