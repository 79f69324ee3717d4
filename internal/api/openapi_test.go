package api

import (
	"bytes"
	"compress/gzip"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

var updateOpenAPI = flag.Bool("update-openapi", false, "rewrite openapi.json.gz from openapi.json")

// The binary embeds openapi.json compressed; it must be the document in
// the repository. After editing openapi.json run
// go test ./internal/api -run TestOpenAPICompressedIsTheDocument -update-openapi.
func TestOpenAPICompressedIsTheDocument(t *testing.T) {
	src, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if *updateOpenAPI {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(src)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("openapi.json.gz", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The file as it is now (the binary embeds what it was at build time).
	gz, err := os.ReadFile("openapi.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("openapi.json.gz: %v", err)
	}
	var onDisk bytes.Buffer
	if _, err := onDisk.ReadFrom(zr); err != nil {
		t.Fatalf("openapi.json.gz: %v", err)
	}
	if !bytes.Equal(onDisk.Bytes(), src) {
		t.Fatal("openapi.json.gz is not openapi.json: run go test ./internal/api -run TestOpenAPICompressedIsTheDocument -update-openapi")
	}
	if *updateOpenAPI {
		return // the embedded copy is the one from before the rewrite
	}
	if !bytes.Equal(OpenAPI(), src) {
		t.Fatal("openapi.json.gz is not openapi.json: run go test ./internal/api -run TestOpenAPICompressedIsTheDocument -update-openapi")
	}
	// Served compressed to clients that take gzip, plain to the rest.
	mux := http.NewServeMux()
	(&Server{}).Routes(mux)
	for _, enc := range []string{"gzip, deflate", ""} {
		r := httptest.NewRequest("GET", "/v1/openapi.json", nil)
		r.Header.Set("Accept-Encoding", enc)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		body := w.Body.Bytes()
		if w.Header().Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			_, _ = out.ReadFrom(zr)
			body = out.Bytes()
		} else if enc != "" {
			t.Fatalf("Accept-Encoding %q: not compressed", enc)
		}
		if w.Code != 200 || !bytes.Equal(body, src) {
			t.Fatalf("Accept-Encoding %q: %d, %d bytes", enc, w.Code, len(body))
		}
	}
}
