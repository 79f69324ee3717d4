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

// Ignored are the Zendesk event types a webhook subscribed to ticket, user
// and organization events receives that carry nothing OCX uses: ticket
// edits other than creation, status and comments, user changes other than
// who the user is, and organizations. Answered 2xx and counted.
var Ignored = func() []string {
	var out []string
	for _, t := range []string{
		"ticket.agent_assignment_changed", "ticket.attachment_linked_to_comment", "ticket.attachment_redacted_from_comment",
		"ticket.brand_changed", "ticket.comment_made_private", "ticket.comment_redacted", "ticket.custom_field_changed",
		"ticket.custom_status_changed", "ticket.description_changed", "ticket.email_ccs_changed", "ticket.external_id_changed",
		"ticket.followers_changed", "ticket.form_changed", "ticket.group_assignment_changed", "ticket.organization_changed",
		"ticket.priority_changed", "ticket.problem_link_changed", "ticket.requester_changed", "ticket.subject_changed",
		"ticket.submitter_changed", "ticket.tags_changed", "ticket.type_changed", "ticket.marked_as_spam", "ticket.merged",
		"ticket.soft_deleted", "ticket.permanently_deleted", "ticket.undeleted", "ticket.task_due_date_changed",
		"user.active_changed", "user.alias_changed", "user.custom_field_changed", "user.custom_role_changed",
		"user.default_group_changed", "user.deleted", "user.external_id_changed", "user.group_membership_created",
		"user.group_membership_deleted", "user.identity_deleted", "user.last_login_changed", "user.merged",
		"user.name_changed", "user.notes_changed", "user.only_private_comments_changed",
		"user.organization_membership_created", "user.organization_membership_deleted", "user.password_changed",
		"user.photo_changed", "user.role_changed", "user.suspended_changed", "user.tags_changed", "user.time_zone_changed",
		"user.details_changed",
		"organization.created", "organization.deleted", "organization.name_changed", "organization.tags_changed",
		"organization.external_id_changed", "organization.custom_field_changed",
	} {
		out = append(out, "zen:event-type:"+t)
	}
	return out
}()

var ignored = channel.Set(Ignored...)

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
	if ignored[p.Type] {
		return channel.Draft{}, channel.Ignore(p.Type)
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
	case p.Detail.Role != roleEndUser, identity.Email(p.Detail.Email) == "":
		// Agents and admins are staff, not customers, and Zendesk cannot
		// limit a webhook's user events by role; an end user without an
		// email (created from a call or a chat) has nothing to link yet.
		return channel.Draft{}, channel.Ignore(p.Type)
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
