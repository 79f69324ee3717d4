// Package httpauth protects analyst and operator routes. In AWS, API
// Gateway's IAM authorizer has already authenticated the caller; locally a
// bearer token stands in for it.
package httpauth

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/ocxhq/ocx/internal/httpjson"
)

// Guard wraps handlers that need an authenticated caller.
type Guard struct {
	// Token, when set, is the bearer token every request must carry. Empty
	// means the gateway authenticates (OCX_API_AUTH=iam).
	Token string
}

// Wrap returns h behind the guard.
func (g Guard) Wrap(h http.Handler) http.Handler {
	if g.Token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(g.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ocx"`)
			httpjson.Error(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		h.ServeHTTP(w, r)
	})
}
