package slackaction

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
)

// Interaction payload types Slack sends to the interactivity request URL.
// OCX acts only on block_actions; the others are acknowledged and ignored.
const (
	TypeBlockActions = "block_actions"
)

// Action ids of the buttons on an OCX alert. Their value is the alert's
// group key.
const (
	ActionAcknowledge = "ack"
	ActionResolve     = "resolve"
	// ActionContacted records that the presser reached the customer of
	// the alert's failures (a missed follow-up's alert offers it).
	ActionContacted = "contacted"
)

// Payload is the part of an interaction payload OCX reads.
type Payload struct {
	Type        string    `json:"type"`
	User        User      `json:"user"`
	Team        Team      `json:"team"`
	Actions     []Action  `json:"actions"`
	ResponseURL string    `json:"response_url"`
	Message     *Message  `json:"message,omitempty"`
	Container   Container `json:"container"`
}

// User is who pressed the button.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	TeamID   string `json:"team_id"`
}

// Team is the Slack workspace.
type Team struct {
	ID     string `json:"id"`
	Domain string `json:"domain"`
}

// Action is one interactive element that was used.
type Action struct {
	ActionID string `json:"action_id"`
	BlockID  string `json:"block_id"`
	Type     string `json:"type"`
	Value    string `json:"value"`
	ActionTS string `json:"action_ts"`
}

// Message is the message the button sits on. Blocks are kept raw so an
// update returns them as Slack sent them.
type Message struct {
	Text   string            `json:"text"`
	TS     string            `json:"ts"`
	Blocks []json.RawMessage `json:"blocks"`
}

// Container says where the interaction happened.
type Container struct {
	Type      string `json:"type"`
	MessageTS string `json:"message_ts"`
	ChannelID string `json:"channel_id"`
}

// ErrBadPayload is returned for a request that is not an interaction payload.
var ErrBadPayload = errors.New("malformed interaction payload")

// ErrContentType is returned for a body that is not form-encoded.
var ErrContentType = errors.New("want Content-Type application/x-www-form-urlencoded")

// Parse reads an interactivity request body: a form whose payload field is
// the JSON payload.
func Parse(contentType string, body []byte) (Payload, error) {
	if err := checkContentType(contentType); err != nil {
		return Payload{}, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return Payload{}, fmt.Errorf("%w: form: %v", ErrBadPayload, err)
	}
	raw := form.Get("payload")
	if raw == "" {
		return Payload{}, fmt.Errorf("%w: no payload field", ErrBadPayload)
	}
	var p Payload
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return Payload{}, fmt.Errorf("%w: payload JSON: %v", ErrBadPayload, err)
	}
	if p.Type == "" {
		return Payload{}, fmt.Errorf("%w: no type", ErrBadPayload)
	}
	return p, nil
}

// checkContentType accepts the form encoding Slack posts interactions in.
func checkContentType(ct string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return fmt.Errorf("%w, got %q", ErrContentType, ct)
	}
	return nil
}

// maxGroupKey bounds a button value; Slack itself allows 2,000 characters.
const maxGroupKey = 256

// Command is what a block_actions payload asks OCX to do.
type Command struct {
	// Action is ActionAcknowledge or ActionResolve.
	Action string
	// Group is the alert's group key.
	Group string
	// BlockID is the block holding the button.
	BlockID string
}

// Command finds the Acknowledge or Resolve press in a block_actions payload.
// ok is false for any other interaction (a link button also reports a
// press), which needs no work; err is set for a press OCX cannot act on.
func (p Payload) Command() (cmd Command, ok bool, err error) {
	if p.Type != TypeBlockActions {
		return Command{}, false, nil
	}
	for _, a := range p.Actions {
		if a.ActionID != ActionAcknowledge && a.ActionID != ActionResolve && a.ActionID != ActionContacted {
			continue
		}
		if p.User.ID == "" {
			return Command{}, false, fmt.Errorf("%w: %s press without a user id", ErrBadPayload, a.ActionID)
		}
		if a.Value == "" || len(a.Value) > maxGroupKey {
			return Command{}, false, fmt.Errorf("%w: %s press with a value of %d bytes, want a group key of 1 to %d", ErrBadPayload, a.ActionID, len(a.Value), maxGroupKey)
		}
		return Command{Action: a.ActionID, Group: a.Value, BlockID: a.BlockID}, true, nil
	}
	return Command{}, false, nil
}
