// Package zendesktest is a stand-in for Zendesk's Tickets API on a real
// HTTP server: POST /api/v2/tickets.json with API-token basic auth, the
// documented 201, 401 and 422 answers, Idempotency-Key replay (with the
// x-idempotency-lookup header) and 429 rate limiting with Retry-After. Tests
// and the local stack (when OCX_ZENDESK_URL is unset) create tickets in it.
package zendesktest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Ticket is a ticket the server created.
type Ticket struct {
	ID          int64     `json:"id"`
	URL         string    `json:"url"`
	Subject     string    `json:"subject"`
	Description string    `json:"description"`
	Status      string    `json:"status"`
	Priority    string    `json:"priority,omitempty"`
	RequesterID int64     `json:"requester_id"`
	Tags        []string  `json:"tags"`
	ExternalID  string    `json:"external_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// Requester is the requester as the request named it; not part of
	// Zendesk's answer.
	Requester struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"-"`
	// IdempotencyKey is the key the creating request carried.
	IdempotencyKey string `json:"-"`
}

type stored struct {
	hash   [32]byte
	status int
	body   []byte
}

type failure struct {
	status     int
	retryAfter string
	// lost creates the ticket and drops the connection before answering.
	lost bool
}

// Server is a running stand-in.
type Server struct {
	// URL is the base URL to configure clients with.
	URL   string
	Email string
	Token string

	srv      *httptest.Server
	mu       sync.Mutex
	next     int64
	tickets  []Ticket
	keys     map[string]stored
	failures []failure
	requests int
	users    map[string]int64
}

// New starts a server accepting the given API-token credentials.
func New(email, token string) *Server {
	s := &Server{Email: email, Token: token, next: 35436, keys: map[string]stored{}, users: map[string]int64{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// FailNext makes the next n ticket requests answer status (429 or 5xx),
// with Retry-After set to retryAfter when it is not empty.
func (s *Server) FailNext(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status: status, retryAfter: retryAfter})
	}
}

// LoseNextAnswer makes the next ticket request create its ticket and then
// drop the connection unanswered, as a timeout after Zendesk acted does.
func (s *Server) LoseNextAnswer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failure{lost: true})
}

// Tickets returns the tickets created, oldest first.
func (s *Server) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ticket(nil), s.tickets...)
}

// Requests counts the ticket requests received, failed ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v2/tickets.json" && r.URL.Path != "/api/v2/tickets" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "InvalidEndpoint", "description": "Not found"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "MethodNotAllowed"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if !s.authorised(r.Header.Get("Authorization")) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Couldn't authenticate you"})
		return
	}
	lost := false
	if len(s.failures) > 0 && s.failures[0].lost {
		s.failures, lost = s.failures[1:], true
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		if f.status == http.StatusTooManyRequests {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(f.status)
			_, _ = io.WriteString(w, "Number of allowed API requests per minute exceeded")
			return
		}
		writeJSON(w, f.status, map[string]string{"error": http.StatusText(f.status)})
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "InvalidRequest"})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	hash := sha256.Sum256(raw)
	if key != "" {
		if prev, ok := s.keys[key]; ok {
			if prev.hash != hash {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "IdempotentRequestError",
					"description": "The idempotency key was already used with a different request"})
				return
			}
			w.Header().Set("x-idempotency-lookup", "hit")
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(prev.status)
			_, _ = w.Write(prev.body)
			return
		}
		w.Header().Set("x-idempotency-lookup", "miss")
	}
	status, body := s.create(raw, key)
	if key != "" && status == http.StatusCreated {
		s.keys[key] = stored{hash: hash, status: status, body: body}
	}
	if lost {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) authorised(h string) bool {
	raw, ok := strings.CutPrefix(h, "Basic ")
	if !ok {
		return false
	}
	dec, err := base64.StdEncoding.DecodeString(raw)
	return err == nil && string(dec) == s.Email+"/token:"+s.Token
}

type invalid struct {
	Description string `json:"description"`
	Error       string `json:"error"`
}

func (s *Server) create(raw []byte, key string) (int, []byte) {
	var req struct {
		Ticket *struct {
			Subject string `json:"subject"`
			Comment struct {
				Body string `json:"body"`
			} `json:"comment"`
			Requester *struct {
				Name  string `json:"name"`
				Email string `json:"email"`
			} `json:"requester"`
			Priority   string   `json:"priority"`
			Tags       []string `json:"tags"`
			ExternalID string   `json:"external_id"`
		} `json:"ticket"`
	}
	if err := json.Unmarshal(raw, &req); err != nil || req.Ticket == nil {
		body, _ := json.Marshal(map[string]string{"error": "InvalidParameter", "description": "ticket parameter is missing or not JSON"})
		return http.StatusBadRequest, body
	}
	t := req.Ticket
	details := map[string][]invalid{}
	if strings.TrimSpace(t.Comment.Body) == "" {
		details["description"] = []invalid{{Description: "Description: cannot be blank", Error: "BlankValue"}}
	}
	if t.Requester == nil || !strings.Contains(t.Requester.Email, "@") {
		details["requester"] = []invalid{{Description: "Requester: Email is invalid", Error: "InvalidValue"}}
	}
	switch t.Priority {
	case "", "low", "normal", "high", "urgent":
	default:
		details["priority"] = []invalid{{Description: "Priority: is not valid", Error: "InvalidValue"}}
	}
	if len(details) > 0 {
		body, _ := json.Marshal(map[string]any{"error": "RecordInvalid", "description": "Record validation errors", "details": details})
		return http.StatusUnprocessableEntity, body
	}
	uid, ok := s.users[t.Requester.Email]
	if !ok {
		uid = int64(20978392 + len(s.users))
		s.users[t.Requester.Email] = uid
	}
	id := s.next
	s.next++
	tk := Ticket{ID: id, URL: fmt.Sprintf("%s/api/v2/tickets/%d.json", s.URL, id), Subject: t.Subject, Description: t.Comment.Body,
		Status: "new", Priority: t.Priority, RequesterID: uid, Tags: append([]string{}, t.Tags...), ExternalID: t.ExternalID,
		CreatedAt: time.Now().UTC().Truncate(time.Second), IdempotencyKey: key}
	tk.Requester.Name, tk.Requester.Email = t.Requester.Name, t.Requester.Email
	s.tickets = append(s.tickets, tk)
	body, _ := json.Marshal(map[string]any{"ticket": tk})
	return http.StatusCreated, body
}
