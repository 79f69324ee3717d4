package zendesk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
)

// Canonical types this kind emits.
const (
	TypeCreated       = "ticket.created"
	TypeStatusChanged = "ticket.status_changed"
	TypeSolved        = "ticket.solved"
	TypeReplied       = "ticket.replied"
)

// Zendesk event types OCX understands. A status change to solved becomes
// ticket.solved instead of ticket.status_changed; both carry status and
// previous_status.
const (
	EventTicketCreated = "zen:event-type:ticket.created"
	EventStatusChanged = "zen:event-type:ticket.status_changed"
	EventCommentAdded  = "zen:event-type:ticket.comment_added"
)

// id is a Zendesk id: event payloads send ids as strings, some examples as
// numbers; either way it is kept as its decimal text.
type id string

func (i *id) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || b[0] == 'n':
		*i = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*i = id(s)
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		*i = id(b)
	default:
		return fmt.Errorf("id %s is neither a number nor a string", clip(string(b)))
	}
	return nil
}

// status is a ticket status: a string, or an object with a status field.
type status string

func (s *status) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = status(strings.ToLower(v))
	case len(b) > 0 && b[0] == '{':
		var v struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = status(strings.ToLower(v.Status))
	default:
		*s = ""
	}
	return nil
}

// payload is Zendesk's event envelope (shared by every zen:event-type) with
// the ticket detail and the event objects of the types OCX maps.
type payload struct {
	Type      string    `json:"type"`
	AccountID id        `json:"account_id"`
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Subject   string    `json:"subject"`
	Detail    *struct {
		ID             id       `json:"id"`
		RequesterID    id       `json:"requester_id"`
		AssigneeID     id       `json:"assignee_id"`
		GroupID        id       `json:"group_id"`
		BrandID        id       `json:"brand_id"`
		OrganizationID id       `json:"organization_id"`
		Status         status   `json:"status"`
		Priority       string   `json:"priority"`
		Type           string   `json:"type"`
		Tags           []string `json:"tags"`
		Via            struct {
			Channel string `json:"channel"`
		} `json:"via"`
	} `json:"detail"`
	Event struct {
		Current  status `json:"current"`
		Previous status `json:"previous"`
		Comment  *struct {
			ID       id    `json:"id"`
			IsPublic *bool `json:"is_public"`
			Author   struct {
				ID      id   `json:"id"`
				IsStaff bool `json:"is_staff"`
			} `json:"author"`
		} `json:"comment"`
	} `json:"event"`
}

// Parse maps the one event a Zendesk event webhook carries.
func (Scheme) Parse(req channel.Request) (channel.Delivery, error) {
	var p payload
	if err := json.Unmarshal(req.Body, &p); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || len(bytes.TrimSpace(req.Body)) == 0 {
			return channel.Delivery{}, fmt.Errorf("%w: zendesk body is not JSON: %v", channel.ErrMalformed, err)
		}
		return channel.Delivery{Rejects: []channel.Reject{{Index: 0, Reason: "not a zendesk event: " + err.Error(), Item: req.Body}}}, nil
	}
	d := channel.Delivery{ID: req.Header.Get(HeaderInvocationID)}
	if d.ID == "" {
		d.ID = p.ID
	}
	draft, err := p.draft()
	if err != nil {
		d.Rejects = []channel.Reject{{Index: 0, Reason: err.Error(), Item: req.Body}}
		return d, nil
	}
	d.Events = []channel.Draft{draft}
	return d, nil
}

func (p *payload) draft() (channel.Draft, error) {
	switch {
	case p.Type == "":
		return channel.Draft{}, errors.New("zendesk event has no type (is the webhook connected to a trigger instead of subscribed to ticket events?)")
	case p.Type != EventTicketCreated && p.Type != EventStatusChanged && p.Type != EventCommentAdded:
		return channel.Draft{}, fmt.Errorf("unknown zendesk event type %q", p.Type)
	case p.ID == "":
		return channel.Draft{}, fmt.Errorf("zendesk %s event has no id", p.Type)
	case p.Detail == nil || p.Detail.ID == "":
		return channel.Draft{}, fmt.Errorf("zendesk %s %s has no ticket detail", p.Type, p.ID)
	case p.Time.UTC().Year() > 9999:
		return channel.Draft{}, fmt.Errorf("zendesk %s %s: time is out of range", p.Type, p.ID)
	case p.Detail.RequesterID == "":
		return channel.Draft{}, fmt.Errorf("zendesk %s %s: ticket %s has no requester_id", p.Type, p.ID, p.Detail.ID)
	}
	t := p.Detail
	a := map[string]any{"provider_event": p.Type, "zendesk_event_id": p.ID, "ticket_id": string(t.ID)}
	put(a, "status", string(t.Status))
	put(a, "priority", strings.ToLower(t.Priority))
	put(a, "ticket_type", strings.ToLower(t.Type))
	put(a, "via_channel", t.Via.Channel)
	put(a, "assignee_id", string(t.AssigneeID))
	put(a, "group_id", string(t.GroupID))
	put(a, "brand_id", string(t.BrandID))
	put(a, "organization_id", string(t.OrganizationID))
	put(a, "account_id", string(p.AccountID))
	if len(t.Tags) > 0 {
		a["tags"] = t.Tags
	}
	typ := TypeCreated
	switch p.Type {
	case EventStatusChanged:
		if p.Event.Current == "" {
			return channel.Draft{}, fmt.Errorf("zendesk %s %s has no event.current status", p.Type, p.ID)
		}
		typ = TypeStatusChanged
		if p.Event.Current == "solved" {
			typ = TypeSolved
		}
		a["status"] = string(p.Event.Current)
		put(a, "previous_status", string(p.Event.Previous))
	case EventCommentAdded:
		c := p.Event.Comment
		if c == nil || c.IsPublic == nil {
			return channel.Draft{}, fmt.Errorf("zendesk %s %s has no event.comment with is_public", p.Type, p.ID)
		}
		typ = TypeReplied
		a["author"] = "customer"
		if c.Author.IsStaff {
			a["author"] = "agent"
		}
		a["public"] = *c.IsPublic
		put(a, "comment_id", string(c.ID))
		put(a, "author_id", string(c.Author.ID))
	}
	return channel.Draft{
		ID:         p.ID,
		Type:       typ,
		OccurredAt: p.Time.UTC(),
		Customer:   events.Customer{ID: string(t.RequesterID)},
		Attributes: a,
	}, nil
}

func put(a map[string]any, k, v string) {
	if v != "" {
		a[k] = v
	}
}
