package zendesk

import (
	"context"
	"errors"
	"strconv"

	"github.com/ocxhq/ocx/internal/loop"
)

// Helpdesk is the Client as the loop's help desk.
type Helpdesk struct{ Client *Client }

var _ loop.Helpdesk = Helpdesk{}

// CreateTicket implements loop.Helpdesk; a *RetryableError becomes a
// *loop.RetryLater.
func (h Helpdesk) CreateTicket(ctx context.Context, t loop.TicketRequest) (string, error) {
	created, err := h.Client.CreateTicket(ctx, Ticket{
		Subject: t.Subject, Body: t.Body, Requester: Requester{Name: t.RequesterName, Email: t.RequesterEmail},
		Priority: t.Priority, Tags: t.Tags, ExternalID: t.ExternalID,
	}, t.Key)
	var re *RetryableError
	switch {
	case errors.As(err, &re):
		return "", &loop.RetryLater{After: re.After, Err: err}
	case err != nil:
		return "", err
	}
	return strconv.FormatInt(created.ID, 10), nil
}
