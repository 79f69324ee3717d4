package intercom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
)

// Canonical types this kind emits.
const (
	TypeOpened  = "conversation.opened"
	TypeReplied = "conversation.replied"
	TypeClosed  = "conversation.closed"
)

// topic says what an Intercom topic becomes.
type topic struct {
	typ    string
	author string // who acted: "agent" or "customer"
	attrs  map[string]any
}

// topics maps each Intercom topic OCX understands to its canonical type.
var topics = map[string]topic{
	"conversation.user.created":         {TypeOpened, "customer", map[string]any{"initiator": "customer"}},
	"conversation.admin.single.created": {TypeOpened, "agent", map[string]any{"initiator": "agent"}},
	"conversation.admin.opened":         {TypeOpened, "agent", map[string]any{"reopened": true}},
	"conversation.user.replied":         {TypeReplied, "customer", nil},
	"conversation.admin.replied":        {TypeReplied, "agent", nil},
	"conversation.operator.replied":     {TypeReplied, "agent", nil},
	"conversation.admin.closed":         {TypeClosed, "agent", nil},
	"conversation.rating.added":         {events.TypeSurveyResponded, "customer", nil},
}

// contactTopics are the contact topics OCX maps to customer.identified:
// each carries the contact's Intercom id, email and phone.
var contactTopics = channel.Set("contact.user.created", "contact.user.updated", "contact.lead.created",
	"contact.lead.updated", "contact.lead.signed_up", "contact.email.updated")

// Ignored are the topics an app typically subscribes to that carry nothing
// OCX uses (assignment, notes, snoozes, tags, companies, admins) and the
// ping Intercom sends to check a subscription. Answered 2xx and counted.
var Ignored = []string{
	"ping",
	"conversation.admin.assigned", "conversation.admin.noted", "conversation.admin.snoozed",
	"conversation.admin.unsnoozed", "conversation.admin.open.assigned", "conversation.admin.closed.assigned",
	"conversation.priority.updated", "conversation.contact.attached", "conversation.contact.detached",
	"conversation.read", "conversation.deleted", "conversation_part.tag.created", "conversation_part.redacted",
	"contact.archived", "contact.unarchived", "contact.deleted", "contact.tag.created", "contact.tag.deleted",
	"contact.subscribed", "contact.unsubscribed", "contact.attached_to_company", "contact.detached_from_company",
	"company.created", "company.updated", "company.deleted", "visitor.signed_up", "event.created",
	"admin.added_to_workspace", "admin.removed_from_workspace", "admin.away_mode_updated", "admin.logged_in", "admin.logged_out",
}

var ignored = channel.Set(Ignored...)

// TypeIdentified links a contact's Intercom id, email and phone.
const TypeIdentified = "customer.identified"

type person struct {
	Type       string             `json:"type"`
	ID         channel.ProviderID `json:"id"`
	Email      string             `json:"email"`
	ExternalID string             `json:"external_id"`
}

// isContact reports whether an author is the customer side (a user or lead)
// rather than an admin, bot or team.
func (p person) isContact() bool {
	return p.Type == "user" || p.Type == "lead" || p.Type == "contact"
}

// contacts reads both shapes Intercom has used: a bare array (API 2.0-2.1)
// and {"type": "contact.list", "contacts": [...]}.
type contacts []person

func (c *contacts) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, (*[]person)(c))
	}
	var l struct {
		Contacts []person `json:"contacts"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*c = l.Contacts
	return nil
}

type part struct {
	ID        channel.ProviderID `json:"id"`
	PartType  string             `json:"part_type"`
	CreatedAt int64              `json:"created_at"`
	Author    person             `json:"author"`
}

type conversation struct {
	Type            string             `json:"type"`
	ID              channel.ProviderID `json:"id"`
	CreatedAt       int64              `json:"created_at"`
	State           string             `json:"state"`
	Priority        string             `json:"priority"`
	AdminAssigneeID channel.ProviderID `json:"admin_assignee_id"`
	TeamAssigneeID  channel.ProviderID `json:"team_assignee_id"`
	Contacts        contacts           `json:"contacts"`
	User            *person            `json:"user"` // API 1.x
	Source          *struct {
		ID          channel.ProviderID `json:"id"`
		DeliveredAs string             `json:"delivered_as"`
		Author      person             `json:"author"`
	} `json:"source"`
	ConversationRating *struct {
		Rating    *float64 `json:"rating"`
		Remark    string   `json:"remark"`
		CreatedAt int64    `json:"created_at"`
		UpdatedAt int64    `json:"updated_at"`
		Contact   *person  `json:"contact"`
		Customer  *person  `json:"customer"` // API 1.x
		Teammate  *person  `json:"teammate"`
	} `json:"conversation_rating"`
	ConversationParts *struct {
		Parts []part `json:"conversation_parts"`
	} `json:"conversation_parts"`
}

type notification struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Topic     string `json:"topic"`
	AppID     string `json:"app_id"`
	CreatedAt int64  `json:"created_at"`
	Data      struct {
		Item json.RawMessage `json:"item"`
	} `json:"data"`
}

// Parse maps the one notification an Intercom delivery carries; the
// notification id is the delivery id.
func (Scheme) Parse(req channel.Request) (channel.Delivery, error) {
	return channel.ParseJSONItem(req, "an intercom notification", func(n *notification) string { return n.ID }, (*notification).draft)
}

func (n *notification) draft() (channel.Draft, error) {
	switch {
	case ignored[n.Topic]:
		return channel.Draft{}, channel.Ignore(n.Topic)
	case n.Topic == "":
		return channel.Draft{}, errors.New("intercom notification has no topic")
	case contactTopics[n.Topic]:
		return n.contact()
	}
	tp, ok := topics[n.Topic]
	if !ok {
		return channel.Draft{}, fmt.Errorf("unknown intercom topic %q", n.Topic)
	}
	if n.ID == "" {
		return channel.Draft{}, fmt.Errorf("intercom %s notification has no id", n.Topic)
	}
	var cv conversation
	if len(n.Data.Item) == 0 || n.Data.Item[0] != '{' {
		return channel.Draft{}, fmt.Errorf("intercom %s %s has no data.item", n.Topic, n.ID)
	}
	if err := json.Unmarshal(n.Data.Item, &cv); err != nil {
		return channel.Draft{}, fmt.Errorf("intercom %s %s: read conversation: %v", n.Topic, n.ID, err)
	}
	if cv.ID == "" {
		return channel.Draft{}, fmt.Errorf("intercom %s %s: conversation has no id", n.Topic, n.ID)
	}
	a := map[string]any{"provider_event": n.Topic, "conversation_id": string(cv.ID)}
	for k, v := range tp.attrs {
		a[k] = v
	}
	channel.SetNonEmpty(a, "app_id", n.AppID)
	channel.SetNonEmpty(a, "state", cv.State)
	channel.SetNonEmpty(a, "priority", cv.Priority)
	if cv.AdminAssigneeID != "0" {
		channel.SetNonEmpty(a, "admin_assignee_id", string(cv.AdminAssigneeID))
	}
	if cv.TeamAssigneeID != "0" {
		channel.SetNonEmpty(a, "team_assignee_id", string(cv.TeamAssigneeID))
	}
	if len(cv.Contacts) > 0 {
		channel.SetNonEmpty(a, "contact_external_id", cv.Contacts[0].ExternalID)
	}
	c := cv.customer()
	at := n.CreatedAt
	switch tp.typ {
	case TypeOpened:
		if n.Topic != "conversation.admin.opened" && cv.CreatedAt > 0 {
			at = cv.CreatedAt
		}
	case TypeReplied, TypeClosed:
		if p := cv.lastPart(); p != nil {
			channel.SetNonEmpty(a, "part_id", string(p.ID))
			channel.SetNonEmpty(a, "author_type", p.Author.Type)
			if p.CreatedAt > 0 {
				at = p.CreatedAt
			}
			if p.Author.isContact() && string(p.Author.ID) == c.ID && c.Email == "" {
				c.Email = p.Author.Email
			}
		}
		if tp.typ == TypeReplied {
			a["author"] = tp.author
		}
	case events.TypeSurveyResponded:
		if err := cv.rating(a, &c); err != nil {
			return channel.Draft{}, fmt.Errorf("intercom %s %s: %w", n.Topic, n.ID, err)
		}
		if r := cv.ConversationRating; at == 0 {
			at = max(r.UpdatedAt, r.CreatedAt)
		}
	}
	if c.Empty() {
		return channel.Draft{}, fmt.Errorf("intercom %s %s: conversation %s names no contact", n.Topic, n.ID, cv.ID)
	}
	if at < 0 || at > maxUnix {
		return channel.Draft{}, fmt.Errorf("intercom %s %s: time %d is out of range", n.Topic, n.ID, at)
	}
	var occurred time.Time
	if at > 0 {
		occurred = time.Unix(at, 0).UTC()
	}
	return channel.Draft{ID: n.ID, Type: tp.typ, OccurredAt: occurred, Customer: c, Attributes: a}, nil
}

// contact maps a contact notification to customer.identified; a contact
// without email or phone (an anonymous lead) has nothing to link yet.
func (n *notification) contact() (channel.Draft, error) {
	var ct struct {
		ID         channel.ProviderID `json:"id"`
		Role       string             `json:"role"`
		Email      string             `json:"email"`
		Phone      string             `json:"phone"`
		ExternalID string             `json:"external_id"`
		UpdatedAt  int64              `json:"updated_at"`
	}
	switch {
	case n.ID == "":
		return channel.Draft{}, fmt.Errorf("intercom %s notification has no id", n.Topic)
	case len(n.Data.Item) == 0 || n.Data.Item[0] != '{':
		return channel.Draft{}, fmt.Errorf("intercom %s %s has no data.item", n.Topic, n.ID)
	}
	if err := json.Unmarshal(n.Data.Item, &ct); err != nil {
		return channel.Draft{}, fmt.Errorf("intercom %s %s: read contact: %v", n.Topic, n.ID, err)
	}
	if ct.ID == "" {
		return channel.Draft{}, fmt.Errorf("intercom %s %s: contact has no id", n.Topic, n.ID)
	}
	if ct.Email == "" && ct.Phone == "" {
		return channel.Draft{}, channel.Ignore(n.Topic)
	}
	at := n.CreatedAt
	if at <= 0 {
		at = ct.UpdatedAt
	}
	if at < 0 || at > maxUnix {
		return channel.Draft{}, fmt.Errorf("intercom %s %s: time %d is out of range", n.Topic, n.ID, at)
	}
	a := map[string]any{"provider_event": n.Topic, "contact_id": string(ct.ID)}
	channel.SetNonEmpty(a, "role", ct.Role)
	channel.SetNonEmpty(a, "contact_external_id", ct.ExternalID)
	channel.SetNonEmpty(a, "app_id", n.AppID)
	var occurred time.Time
	if at > 0 {
		occurred = time.Unix(at, 0).UTC()
	}
	return channel.Draft{ID: n.ID, Type: TypeIdentified, OccurredAt: occurred,
		Customer: events.Customer{ID: string(ct.ID), Email: ct.Email, Phone: ct.Phone}, Attributes: a}, nil
}

// customer is the conversation's contact: the first listed contact, else the
// contact who started it.
func (cv *conversation) customer() events.Customer {
	var c events.Customer
	var src person
	if cv.Source != nil && cv.Source.Author.isContact() {
		src = cv.Source.Author
	}
	switch {
	case len(cv.Contacts) > 0 && cv.Contacts[0].ID != "":
		c.ID = string(cv.Contacts[0].ID)
	case src.ID != "":
		c.ID = string(src.ID)
	case cv.User != nil:
		c.ID = string(cv.User.ID)
	}
	if src.ID == "" || string(src.ID) == c.ID {
		c.Email = src.Email
	}
	return c
}

func (cv *conversation) lastPart() *part {
	if cv.ConversationParts == nil || len(cv.ConversationParts.Parts) == 0 {
		return nil
	}
	return &cv.ConversationParts.Parts[len(cv.ConversationParts.Parts)-1]
}

// rating turns the conversation's rating into a CSAT answer (Intercom
// ratings are 1-5).
func (cv *conversation) rating(a map[string]any, c *events.Customer) error {
	r := cv.ConversationRating
	if r == nil || r.Rating == nil {
		return errors.New("no conversation_rating.rating")
	}
	score := *r.Rating
	if score != math.Trunc(score) || score < 1 || score > 5 {
		return fmt.Errorf("rating %v is not an integer 1-5", score)
	}
	a["survey"] = "csat"
	a["score"] = int64(score)
	channel.SetNonEmpty(a, "comment", r.Remark)
	if r.Teammate != nil {
		channel.SetNonEmpty(a, "teammate_id", string(r.Teammate.ID))
	}
	rater := r.Contact
	if rater == nil {
		rater = r.Customer
	}
	if rater != nil && rater.ID != "" && string(rater.ID) != c.ID {
		*c = events.Customer{ID: string(rater.ID)}
	}
	return nil
}

// maxUnix is 9999-12-31T23:59:59Z, the last time RFC 3339 can write.
const maxUnix = 253402300799
