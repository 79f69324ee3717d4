// Package console serves the OCX console: one page and its hashed assets,
// built from console/ by `make console` into dist/ and embedded here, so
// the api function serves it with no other moving part.
//
// The page holds no data. It signs in (the bearer token locally; an OIDC
// authorization code with PKCE in AWS) and calls the analyst API.
package console

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/ocxhq/ocx/internal/httpjson"
)

//go:embed dist
var dist embed.FS

// Assets is the built console: index.html and assets/.
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// Auth is how the page signs in, as GET /v1/console/config tells it.
type Auth struct {
	// Mode is "token" (a bearer token, the local stack's) or "oidc".
	Mode string `json:"mode"`
	// Token is a default the page offers, locally only; never set in AWS.
	DefaultToken string `json:"default_token,omitempty"`
	// OIDC authorization code flow with PKCE (a Cognito user pool's hosted
	// UI or any OIDC provider the JWT authorizer trusts).
	AuthorizeURL string `json:"authorize_url,omitempty"`
	TokenURL     string `json:"token_url,omitempty"`
	LogoutURL    string `json:"logout_url,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// Config is the page's configuration.
type Config struct {
	Auth Auth `json:"auth"`
	// OperatorRoutes are the "METHOD path" patterns only operators may
	// call, so the page can say so before a 403 does.
	OperatorRoutes []string `json:"operator_routes"`
}

// Handler serves the page, its assets and its configuration.
type Handler struct {
	Files  fs.FS
	Config Config
}

// Routes registers the console on mux:
//
//	GET /{$}, GET /index.html   the page (no-cache)
//	GET /assets/{file}          hashed assets (immutable), gzip when accepted
//	GET /v1/console/config      how to sign in
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.page)
	mux.HandleFunc("GET /index.html", h.page)
	mux.HandleFunc("GET /assets/{file}", h.asset)
	mux.HandleFunc("GET /v1/console/config", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		httpjson.Write(w, http.StatusOK, h.Config)
	})
}

// securityHeaders are sent with the page and every asset. Scripts and
// styles come only from this origin: the page has no inline script or
// style (the build emits none), so no hash is needed.
func (h *Handler) securityHeaders(w http.ResponseWriter) {
	connect := "'self'"
	if o := origin(h.Config.Auth.TokenURL); o != "" {
		connect += " " + o
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"font-src 'self'; connect-src "+connect+"; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	hd.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
}

func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	body, err := fs.ReadFile(h.Files, "index.html")
	if err != nil {
		httpjson.Error(w, http.StatusNotFound, "the console is not built: run make console")
		return
	}
	h.securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Always revalidate: the page names the current hashed assets.
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// types are the content types of what the build emits; anything else is
// not served.
var types = map[string]string{
	".js":    "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".svg":   "image/svg+xml",
	".woff2": "font/woff2",
	".png":   "image/png",
	".map":   "application/json",
}

func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	ct, ok := types[path.Ext(name)]
	if !ok || strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
		httpjson.Error(w, http.StatusNotFound, "no such asset")
		return
	}
	body, err := fs.ReadFile(h.Files, "assets/"+name)
	if err != nil {
		httpjson.Error(w, http.StatusNotFound, "no such asset")
		return
	}
	h.securityHeaders(w)
	w.Header().Set("Content-Type", ct)
	// Names carry a content hash: a changed asset is a new name.
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("Vary", "Accept-Encoding")
	if acceptsGzip(r) {
		if gz, err := fs.ReadFile(h.Files, "assets/"+name+".gz"); err == nil {
			w.Header().Set("Content-Encoding", "gzip")
			body = gz
		}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		return q > 0
	}
	return false
}

// Scripts lists the script files the page loads, in order: what the test
// of the first-load budget measures.
func Scripts(files fs.FS) ([]string, error) {
	body, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, chunk := range bytes.Split(body, []byte("src=\""))[1:] {
		end := bytes.IndexByte(chunk, '"')
		if end > 0 && bytes.HasSuffix(chunk[:end], []byte(".js")) {
			out = append(out, strings.TrimPrefix(string(chunk[:end]), "/"))
		}
	}
	for _, chunk := range bytes.Split(body, []byte("modulepreload\" crossorigin href=\""))[1:] {
		end := bytes.IndexByte(chunk, '"')
		if end > 0 {
			out = append(out, strings.TrimPrefix(string(chunk[:end]), "/"))
		}
	}
	return out, nil
}

func fsRead(files fs.FS, name string) (string, error) {
	b, err := fs.ReadFile(files, name)
	return string(b), err
}
