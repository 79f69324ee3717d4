package zendesk_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/zendesk"
	"github.com/ocxhq/ocx/internal/zendesk/zendesktest"
)

type secrets map[string]string

func (s secrets) Get(_ context.Context, name string) (string, error) {
	v, ok := s[name]
	if !ok {
		return "", errors.New("secret not found")
	}
	return v, nil
}

func client(srv *zendesktest.Server, token string) *zendesk.Client {
	return &zendesk.Client{
		Secrets: secrets{zendesk.SecretName: `{"url":"` + srv.URL + `","email":"ocx@example.com","token":"` + token + `"}`},
		HTTP:    &http.Client{Timeout: 5 * time.Second},
		Now:     func() time.Time { return time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) },
	}
}

var ticket = zendesk.Ticket{
	Subject: "Detractor: NPS 3 from a customer", Body: "Rule survey.detractor found a failure.",
	Requester: zendesk.Requester{Name: "Ana Lima", Email: "ana@example.com"}, Priority: zendesk.PriorityHigh,
	Tags: []string{"ocx", "survey.detractor"}, ExternalID: "flr_0123456789abcdef01234567",
}

func TestCreateTicketOnceAcrossRetries(t *testing.T) {
	srv := zendesktest.New("ocx@example.com", "tok")
	defer srv.Close()
	c := client(srv, "tok")
	first, err := c.CreateTicket(context.Background(), ticket, "ocx-flr_1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateTicket(context.Background(), ticket, "ocx-flr_1")
	if err != nil {
		t.Fatal(err)
	}
	if first.ID == 0 || again.ID != first.ID || first.Status != "new" {
		t.Fatalf("created %+v, then %+v: want one ticket answered twice", first, again)
	}
	got := srv.Tickets()
	if len(got) != 1 || got[0].Requester.Email != "ana@example.com" || got[0].Priority != "high" || got[0].Description != ticket.Body {
		t.Fatalf("server holds %+v", got)
	}
}

func TestCreateTicketAnswers(t *testing.T) {
	srv := zendesktest.New("ocx@example.com", "tok")
	defer srv.Close()
	ctx := context.Background()

	srv.FailNext(1, http.StatusTooManyRequests, "93")
	_, err := client(srv, "tok").CreateTicket(ctx, ticket, "k1")
	var re *zendesk.RetryableError
	if !errors.As(err, &re) || re.After != 93*time.Second {
		t.Fatalf("429: got %v, want retryable after 93s", err)
	}

	srv.FailNext(1, http.StatusServiceUnavailable, "")
	if _, err := client(srv, "tok").CreateTicket(ctx, ticket, "k1"); !errors.As(err, &re) || re.After != 0 {
		t.Fatalf("503: got %v, want retryable", err)
	}

	bad := ticket
	bad.Requester.Email = "not an address"
	_, err = client(srv, "tok").CreateTicket(ctx, bad, "k2")
	if err == nil || errors.As(err, &re) {
		t.Fatalf("422: got %v, want a final error", err)
	}

	if _, err := client(srv, "wrong").CreateTicket(ctx, ticket, "k3"); err == nil || errors.As(err, &re) {
		t.Fatalf("401: got %v, want a final error", err)
	}
	if n := len(srv.Tickets()); n != 0 {
		t.Fatalf("%d tickets created by refused requests", n)
	}
	if _, err := client(srv, "tok").CreateTicket(ctx, ticket, "k1"); err != nil {
		t.Fatalf("after the rate limit: %v", err)
	}
}

func TestNotConfigured(t *testing.T) {
	c := &zendesk.Client{Secrets: secrets{}}
	if _, err := c.CreateTicket(context.Background(), ticket, "k"); !errors.Is(err, zendesk.ErrNotConfigured) {
		t.Fatalf("got %v, want ErrNotConfigured", err)
	}
}
