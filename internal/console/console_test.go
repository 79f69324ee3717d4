package console

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func testFiles() fstest.MapFS {
	var gz strings.Builder
	w := gzip.NewWriter(&gz)
	_, _ = w.Write([]byte("console.log(1)"))
	_ = w.Close()
	return fstest.MapFS{
		"index.html":             {Data: []byte(`<!doctype html><script type="module" crossorigin src="/assets/index-abc.js"></script>`)},
		"assets/index-abc.js":    {Data: []byte("console.log(1)")},
		"assets/index-abc.js.gz": {Data: []byte(gz.String())},
		"assets/style-abc.css":   {Data: []byte("body{}")},
	}
}

// The page revalidates on every load, hashed assets are cached for good,
// every answer carries the security headers, and nothing but the page and
// built assets is served.
func TestServing(t *testing.T) {
	mux := http.NewServeMux()
	(&Handler{Files: testFiles(), Config: Config{Auth: Auth{Mode: "oidc", TokenURL: "https://ocx.auth.eu-west-1.amazoncognito.com/oauth2/token"}}}).Routes(mux)
	get := func(path, enc string) *http.Response {
		req := httptest.NewRequest("GET", path, nil)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Result()
	}
	cases := []struct {
		path, enc, status, ctype, cache, encoding string
	}{
		{"/", "", "200", "text/html; charset=utf-8", "no-cache", ""},
		{"/index.html", "", "200", "text/html; charset=utf-8", "no-cache", ""},
		{"/assets/index-abc.js", "", "200", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", ""},
		{"/assets/index-abc.js", "br, gzip", "200", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "gzip"},
		{"/assets/index-abc.js", "gzip;q=0", "200", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", ""},
		{"/assets/style-abc.css", "gzip", "200", "text/css; charset=utf-8", "public, max-age=31536000, immutable", ""},
		{"/assets/missing.js", "", "404", "application/json", "", ""},
		{"/assets/index-abc.js.gz", "", "404", "application/json", "", ""},
		{"/assets/.hidden.js", "", "404", "application/json", "", ""},
		{"/other", "", "404", "text/plain; charset=utf-8", "", ""},
	}
	for _, c := range cases {
		res := get(c.path, c.enc)
		if got := res.Status[:3]; got != c.status {
			t.Errorf("%s: status %s, want %s", c.path, got, c.status)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("%s: content type %q, want %q", c.path, got, c.ctype)
		}
		if c.status != "200" {
			continue
		}
		if got := res.Header.Get("Cache-Control"); got != c.cache {
			t.Errorf("%s: cache %q, want %q", c.path, got, c.cache)
		}
		if got := res.Header.Get("Content-Encoding"); got != c.encoding {
			t.Errorf("%s (%s): encoding %q, want %q", c.path, c.enc, got, c.encoding)
		}
		if c.encoding == "gzip" {
			zr, err := gzip.NewReader(res.Body)
			body, _ := io.ReadAll(zr)
			if err != nil || string(body) != "console.log(1)" {
				t.Errorf("%s: gzip body %q %v", c.path, body, err)
			}
		}
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'",
			"connect-src 'self' https://ocx.auth.eu-west-1.amazoncognito.com;"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", c.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline code: %s", c.path, csp)
		}
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if got := res.Header.Get(h); got != want {
				t.Errorf("%s: %s %q, want %q", c.path, h, got, want)
			}
		}
	}
	res := get("/v1/console/config", "")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"mode":"oidc"`) || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("config: %d %s", res.StatusCode, body)
	}
}

// The built page (make console) has no inline script or style, which the
// CSP would block, and its first-load JavaScript stays within budget.
func TestBuiltPage(t *testing.T) {
	files := Assets()
	page, err := fsRead(files, "index.html")
	if err != nil {
		t.Fatalf("no built console: %v (run make console)", err)
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "<style") || strings.Contains(page, " style=") || strings.Contains(page, "on"+"load=") {
		t.Errorf("the page has inline script or style:\n%s", page)
	}
	scripts, err := Scripts(files)
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts in the page: %v", err)
	}
	total := 0
	for _, s := range scripts {
		gz, err := fsRead(files, s+".gz")
		if err != nil {
			t.Fatalf("%s has no gzip copy: %v", s, err)
		}
		total += len(gz)
	}
	t.Logf("first-load JavaScript: %d bytes gzip in %d files", total, len(scripts))
	if total > 250*1024 {
		t.Errorf("first-load JavaScript is %d bytes gzip, over the 250 KB budget", total)
	}
}
