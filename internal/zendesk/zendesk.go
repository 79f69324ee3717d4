// Package zendesk creates help-desk tickets through Zendesk's Tickets API
// (POST /api/v2/tickets.json) for failures whose rule asks for one.
//
// Every request carries an Idempotency-Key, which Zendesk documents for
// ticket creation: a retried request with the same key and body answers
// the ticket the first one created instead of creating another. Callers
// pass a key derived from the failure, so a retry after a lost answer
// (a timeout, a crashed function) finds the same ticket.
package zendesk

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/retryafter"
)

// SecretName is the Secrets Manager secret (after the stage prefix) holding
// the credentials, as JSON: {"url": "https://acme.zendesk.com", "email":
// "agent@example.com", "token": "..."}.
const SecretName = "zendesk/api"

// HeaderIdempotencyKey is Zendesk's idempotency header for ticket creation.
const HeaderIdempotencyKey = "Idempotency-Key"

// Priorities Zendesk accepts.
const (
	PriorityLow    = "low"
	PriorityNormal = "normal"
	PriorityHigh   = "high"
	PriorityUrgent = "urgent"
)

// Credentials are what the secret holds. URL is the account's base URL;
// API-token authentication sends "{email}/token:{token}" as basic auth.
type Credentials struct {
	URL   string `json:"url"`
	Email string `json:"email"`
	Token string `json:"token"`
}

// Secrets reads a secret's value; secrets.Store is one.
type Secrets interface {
	Get(ctx context.Context, name string) (string, error)
}

// Requester is the customer the ticket is from.
type Requester struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

// Ticket is what OCX asks Zendesk to create.
type Ticket struct {
	Subject    string
	Body       string
	Requester  Requester
	Priority   string
	Tags       []string
	ExternalID string
}

// createRequest is the documented body of POST /api/v2/tickets.json.
type createRequest struct {
	Ticket struct {
		Subject    string    `json:"subject"`
		Comment    comment   `json:"comment"`
		Requester  Requester `json:"requester"`
		Priority   string    `json:"priority,omitempty"`
		Tags       []string  `json:"tags,omitempty"`
		ExternalID string    `json:"external_id,omitempty"`
	} `json:"ticket"`
}

type comment struct {
	Body     string `json:"body"`
	IsPublic bool   `json:"public"`
}

// Created is the part of the 201 answer OCX keeps.
type Created struct {
	ID     int64  `json:"id"`
	URL    string `json:"url"`
	Status string `json:"status"`
}

// RetryableError is an answer worth trying again later: a rate limit, an
// outage, a network error. After is Zendesk's Retry-After, when it gave one.
type RetryableError struct {
	After time.Duration
	Err   error
}

func (e *RetryableError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
	}
	return e.Err.Error()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// ErrNotConfigured is returned when no credentials are set; retrying does
// not help until an operator sets them.
var ErrNotConfigured = errors.New("zendesk is not configured")

// Client creates tickets.
type Client struct {
	Secrets Secrets
	HTTP    *http.Client
	// BaseURL, when set, replaces the secret's url (OCX_ZENDESK_URL: a
	// local stand-in, or a sandbox account).
	BaseURL string
	// Now is the clock Retry-After dates are read against.
	Now func() time.Time
}

// DefaultTimeout bounds one request.
const DefaultTimeout = 10 * time.Second

// maxErrorBody is how much of an error answer is quoted.
const maxErrorBody = 512

// CreateTicket creates t, sending key as the Idempotency-Key. It returns a
// *RetryableError for 429, 5xx and network errors; any other failure (422
// for an invalid record, 401 for bad credentials) is final.
func (c *Client) CreateTicket(ctx context.Context, t Ticket, key string) (Created, error) {
	creds, err := c.credentials(ctx)
	if err != nil {
		return Created{}, err
	}
	var body createRequest
	body.Ticket.Subject = t.Subject
	body.Ticket.Comment = comment{Body: t.Body, IsPublic: false}
	body.Ticket.Requester = t.Requester
	body.Ticket.Priority = t.Priority
	body.Ticket.Tags = t.Tags
	body.Ticket.ExternalID = t.ExternalID
	raw, err := json.Marshal(body)
	if err != nil {
		return Created{}, fmt.Errorf("encode zendesk ticket: %w", err)
	}
	endpoint := strings.TrimRight(creds.URL, "/") + "/api/v2/tickets.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(raw))
	if err != nil {
		return Created{}, fmt.Errorf("zendesk ticket request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(HeaderIdempotencyKey, key)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds.Email+"/token:"+creds.Token)))
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Created{}, fmt.Errorf("create zendesk ticket: %w", ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Created{}, &RetryableError{Err: fmt.Errorf("create zendesk ticket: %w", err)}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
		var out struct {
			Ticket Created `json:"ticket"`
		}
		if err := json.Unmarshal(answer, &out); err != nil || out.Ticket.ID == 0 {
			return Created{}, fmt.Errorf("zendesk answered %s without a ticket id", resp.Status)
		}
		return out.Ticket, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return Created{}, &RetryableError{After: retryafter.Of(resp.Header, c.now()),
			Err: fmt.Errorf("create zendesk ticket: %s: %s", resp.Status, excerpt(answer))}
	default:
		return Created{}, fmt.Errorf("create zendesk ticket: %s: %s", resp.Status, excerpt(answer))
	}
}

func (c *Client) credentials(ctx context.Context) (Credentials, error) {
	if c.Secrets == nil {
		return Credentials{}, ErrNotConfigured
	}
	v, err := c.Secrets.Get(ctx, SecretName)
	if err != nil {
		return Credentials{}, fmt.Errorf("%w: secret %s: %v", ErrNotConfigured, SecretName, err)
	}
	var creds Credentials
	if err := json.Unmarshal([]byte(v), &creds); err != nil {
		// Never quote the value: it is a credential.
		return Credentials{}, fmt.Errorf("%w: secret %s is not JSON {url, email, token}", ErrNotConfigured, SecretName)
	}
	if c.BaseURL != "" {
		creds.URL = c.BaseURL
	}
	if u, err := url.Parse(creds.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || creds.Email == "" || creds.Token == "" {
		return Credentials{}, fmt.Errorf("%w: secret %s needs url, email and token", ErrNotConfigured, SecretName)
	}
	return creds, nil
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > maxErrorBody {
		s = s[:maxErrorBody] + "…"
	}
	return s
}
