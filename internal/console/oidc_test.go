package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/browsertest"
)

// The console's OIDC sign-in, in Chromium against a stand-in provider: the
// authorization request carries the client, the redirect back to the
// console and an S256 challenge; the token request proves it with the
// verifier; the API then sees the access token. Everything is served over
// TLS on one origin, as the CSP's connect-src allows.
func TestOIDCSignInInBrowser(t *testing.T) {
	consoleDir, _ := filepath.Abs("../../console")
	if err := browsertest.Ready(consoleDir); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var challenge, state, verified, bearer string
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	// Chromium refuses the test certificate once before it is told to
	// ignore it; those handshakes are not worth a log line.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	h := &Handler{Files: Assets(), Config: Config{Auth: Auth{Mode: "oidc", ClientID: "console-client", Scope: "openid email",
		AuthorizeURL: srv.URL + "/oauth2/authorize", TokenURL: srv.URL + "/oauth2/token"}}}
	h.Routes(mux)
	mux.HandleFunc("GET /oauth2/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("response_type") != "code" || q.Get("client_id") != "console-client" || q.Get("code_challenge_method") != "S256" ||
			q.Get("redirect_uri") != srv.URL+"/" || q.Get("state") == "" || len(q.Get("code_challenge")) != 43 {
			http.Error(w, "bad authorization request: "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		mu.Lock()
		challenge, state = q.Get("code_challenge"), q.Get("state")
		mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {"the-code"}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		mu.Lock()
		ok := r.PostForm.Get("grant_type") == "authorization_code" && r.PostForm.Get("code") == "the-code" &&
			r.PostForm.Get("client_id") == "console-client" && r.PostForm.Get("redirect_uri") == srv.URL+"/" &&
			base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
		if ok {
			verified = r.PostForm.Get("code_verifier")
		}
		mu.Unlock()
		if !ok {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"the-access-token","token_type":"Bearer","expires_in":3600}`))
	})
	mux.HandleFunc("GET /v1/failures", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		bearer = r.Header.Get("Authorization")
		mu.Unlock()
		if bearer != "Bearer the-access-token" {
			http.Error(w, `{"error":{"status":401,"message":"no"}}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"failures":[]}`))
	})

	var out bytes.Buffer
	err := browsertest.Run(context.Background(), consoleDir, "test/oidc.mjs", []string{"OCX_URL=" + srv.URL}, &out, 2*time.Minute)
	t.Logf("%s", out.String())
	if err != nil {
		t.Fatalf("sign-in in the browser: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if state == "" || verified == "" || bearer != "Bearer the-access-token" {
		t.Errorf("state %q, verifier %q, API saw %q", state, verified, bearer)
	}
}
