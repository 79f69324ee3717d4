// Package httpjson writes JSON responses and the JSON error body every OCX
// endpoint uses: {"error": {"status": 401, "message": "..."}}.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong.
type ErrorDetail struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// Write sends v as JSON with status.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Error sends an error body.
func Error(w http.ResponseWriter, status int, msg string) {
	Write(w, status, ErrorBody{Error: ErrorDetail{Status: status, Message: msg}})
}
