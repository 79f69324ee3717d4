package deadletters

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/deadletter"
	"github.com/ocxhq/ocx/internal/httpauth"
)

type sqstypesName = sqstypes.QueueAttributeName

func newDeadLetterMux(q deadletter.Queues, pub events.Publisher) *http.ServeMux {
	mux := http.NewServeMux()
	deadletter.Routes(mux, q, pub, httpauth.Guard{Token: "t"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return mux
}

func call(t *testing.T, h http.Handler, method, path string, out any) int {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	r.Header.Set("Authorization", "Bearer t")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
		t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
	}
	return w.Code
}
