package httpdeadline

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/httpjson"
)

func TestStalledHandlerGets503WithRetryAfter(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done(): // a dependency call honouring the deadline
		case <-release:
		}
		w.WriteHeader(http.StatusTeapot)
	}), 20*time.Millisecond)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/metrics", nil))
	var e httpjson.ErrorBody
	if w.Code != 503 || w.Header().Get("Retry-After") == "" || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error.Status != 503 {
		t.Fatalf("%d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}

func TestPromptHandlerAnswersAsItWrote(t *testing.T) {
	h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Deadline(); !ok {
			t.Error("no deadline on the request context")
		}
		w.Header().Set("X-A", "b")
		w.WriteHeader(201)
		_, _ = w.Write([]byte("made"))
	}), time.Second)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", nil))
	if w.Code != 201 || w.Body.String() != "made" || w.Header().Get("X-A") != "b" {
		t.Fatalf("%d %s %v", w.Code, w.Body, w.Header())
	}
}

func TestPanicReachesTheCaller(t *testing.T) {
	h := Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), time.Second)
	defer func() {
		if recover() != "boom" {
			t.Fatal("panic swallowed")
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

func TestWithinLeavesRoomBeforeEveryTimeout(t *testing.T) {
	for _, c := range []struct{ fn, want time.Duration }{{10 * time.Second, 8 * time.Second}, {15 * time.Second, 12 * time.Second}, {5 * time.Minute, 24 * time.Second}} {
		if got := Within(c.fn); got != c.want {
			t.Errorf("Within(%s) = %s, want %s", c.fn, got, c.want)
		}
	}
}
