package ingest

import "net/http"

// Record is an archived request, as the archive keeps it: its headers (credentials removed) and body.
type Record struct {
	Channel string      `json:"channel"`
	URL     string      `json:"url,omitempty"`
	Header  http.Header `json:"header"`
	Body    []byte      `json:"body"`
}

// CleanHeader drops headers that may carry credentials; signatures stay,
// because they are what proves the payload's origin.
func CleanHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range []string{"Authorization", "Cookie", "Proxy-Authorization", "X-Api-Key", "X-Amz-Security-Token"} {
		out.Del(k)
	}
	return out
}
