package zendesk

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/identity"
)

// Canonical types this kind emits.
const (
	TypeCreated       = "ticket.created"
	TypeStatusChanged = "ticket.status_changed"
	TypeSolved        = "ticket.solved"
	TypeReplied       = "ticket.replied"
	// TypeIdentified links the keys one Zendesk user is known by (their
	// user id and email), so tickets that name only requester_id join the
	// customer other channels know by that email.
	TypeIdentified = "customer.identified"
)

// Zendesk event types OCX understands. A status change to solved becomes
// ticket.solved instead of ticket.status_changed; both carry status and
// previous_status.
const (
	EventTicketCreated = "zen:event-type:ticket.created"
	EventStatusChanged = "zen:event-type:ticket.status_changed"
	EventCommentAdded  = "zen:event-type:ticket.comment_added"
)

// Zendesk user events OCX maps to customer.identified. Every user event's
// detail carries the user's id, role and primary email.
const (
	EventUserCreated         = "zen:event-type:user.created"
	EventUserIdentityCreated = "zen:event-type:user.identity_created"
	EventUserIdentityChanged = "zen:event-type:user.identity_changed"
)

// roleEndUser is the role of the people tickets are from; agents and admins
// are staff, not customers.
const roleEndUser = "end-user"

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
	Type      string             `json:"type"`
	AccountID channel.ProviderID `json:"account_id"`
	ID        string             `json:"id"`
	Time      time.Time          `json:"time"`
	Subject   string             `json:"subject"`
	Detail    *struct {
		ID             channel.ProviderID `json:"id"`
		RequesterID    channel.ProviderID `json:"requester_id"`
		AssigneeID     channel.ProviderID `json:"assignee_id"`
		GroupID        channel.ProviderID `json:"group_id"`
		BrandID        channel.ProviderID `json:"brand_id"`
		OrganizationID channel.ProviderID `json:"organization_id"`
		Email          string             `json:"email"`
		Role           string             `json:"role"`
		Status         status             `json:"status"`
		Priority       string             `json:"priority"`
		Type           string             `json:"type"`
		Tags           []string           `json:"tags"`
		Via            struct {
			Channel string `json:"channel"`
		} `json:"via"`
	} `json:"detail"`
	Event struct {
		Current  status `json:"current"`
		Previous status `json:"previous"`
		Comment  *struct {
			ID       channel.ProviderID `json:"id"`
			IsPublic *bool              `json:"is_public"`
			Author   struct {
				ID      channel.ProviderID `json:"id"`
				IsStaff bool               `json:"is_staff"`
			} `json:"author"`
		} `json:"comment"`
	} `json:"event"`
}

// Parse maps the one event a Zendesk event webhook carries. The delivery id
// is the invocation id, else the event id.
func (Scheme) Parse(req channel.Request) (channel.Delivery, error) {
	deliveryID := func(p *payload) string {
		if id := req.Header.Get(HeaderInvocationID); id != "" {
			return id
		}
		return p.ID
	}
	return channel.ParseJSONItem(req, "a zendesk event", deliveryID, (*payload).draft)
}

func (p *payload) draft() (channel.Draft, error) {
	// Zendesk's user-event reference spells some types with a slash
	// (zen:event-type/user.identity_created); read both spellings.
	p.Type = strings.Replace(p.Type, "zen:event-type/", "zen:event-type:", 1)
	switch p.Type {
	case EventUserCreated, EventUserIdentityCreated, EventUserIdentityChanged:
		return p.userDraft()
	}
	switch {
	case p.Type == "":
		return channel.Draft{}, errors.New("zendesk event has no type (is the webhook connected to a trigger instead of subscribed to ticket and user events?)")
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
	channel.SetNonEmpty(a, "status", string(t.Status))
	channel.SetNonEmpty(a, "priority", strings.ToLower(t.Priority))
	channel.SetNonEmpty(a, "ticket_type", strings.ToLower(t.Type))
	channel.SetNonEmpty(a, "via_channel", t.Via.Channel)
	channel.SetNonEmpty(a, "assignee_id", string(t.AssigneeID))
	channel.SetNonEmpty(a, "group_id", string(t.GroupID))
	channel.SetNonEmpty(a, "brand_id", string(t.BrandID))
	channel.SetNonEmpty(a, "organization_id", string(t.OrganizationID))
	channel.SetNonEmpty(a, "account_id", string(p.AccountID))
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
		channel.SetNonEmpty(a, "previous_status", string(p.Event.Previous))
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
		channel.SetNonEmpty(a, "comment_id", string(c.ID))
		channel.SetNonEmpty(a, "author_id", string(c.Author.ID))
	}
	return channel.Draft{
		ID:         p.ID,
		Type:       typ,
		OccurredAt: p.Time.UTC(),
		Customer:   events.Customer{ID: string(t.RequesterID)},
		Attributes: a,
	}, nil
}

// userDraft maps a user event to customer.identified: the user's Zendesk id
// and primary email, which identity resolution links to one customer.
func (p *payload) userDraft() (channel.Draft, error) {
	switch {
	case p.ID == "":
		return channel.Draft{}, fmt.Errorf("zendesk %s event has no id", p.Type)
	case p.Detail == nil || p.Detail.ID == "":
		return channel.Draft{}, fmt.Errorf("zendesk %s %s has no user detail", p.Type, p.ID)
	case p.Time.UTC().Year() > 9999:
		return channel.Draft{}, fmt.Errorf("zendesk %s %s: time is out of range", p.Type, p.ID)
	case p.Detail.Role != roleEndUser:
		return channel.Draft{}, fmt.Errorf("zendesk %s %s: user %s has role %q; only end users are customers", p.Type, p.ID, p.Detail.ID, p.Detail.Role)
	case identity.Email(p.Detail.Email) == "":
		return channel.Draft{}, fmt.Errorf("zendesk %s %s: user %s has no email address to link", p.Type, p.ID, p.Detail.ID)
	}
	u := p.Detail
	a := map[string]any{"provider_event": p.Type, "zendesk_event_id": p.ID, "user_id": string(u.ID)}
	channel.SetNonEmpty(a, "organization_id", string(u.OrganizationID))
	channel.SetNonEmpty(a, "account_id", string(p.AccountID))
	return channel.Draft{
		ID:         p.ID,
		Type:       TypeIdentified,
		OccurredAt: p.Time.UTC(),
		Customer:   events.Customer{ID: string(u.ID), Email: u.Email},
		Attributes: a,
	}, nil
}
