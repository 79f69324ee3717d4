package slackaction

import (
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
)

// form encodes a payload as Slack posts it.
func form(payload string) []byte {
	return []byte(url.Values{"payload": {payload}}.Encode())
}

func sample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/block_actions.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseBlockActions(t *testing.T) {
	p, err := Parse("application/x-www-form-urlencoded; charset=utf-8", form(sample(t)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != TypeBlockActions || p.User.ID != "U024BE7LH" || p.User.Username != "ann" || p.User.Name != "Ann Lee" ||
		p.Team.ID != "T0CAG6Q4F" || p.Container.ChannelID != "C0ALERTS" || p.Container.MessageTS != "1710000000.000100" ||
		!strings.HasPrefix(p.ResponseURL, "https://hooks.slack.com/actions/") {
		t.Errorf("payload: %+v", p)
	}
	if p.Message == nil || len(p.Message.Blocks) != 4 || !strings.HasPrefix(p.Message.Text, "[WARNING]") {
		t.Fatalf("message: %+v", p.Message)
	}
	cmd, ok, err := p.Command()
	if err != nil || !ok || cmd != (Command{Action: ActionAcknowledge, Group: "grp_7f3a9c", BlockID: "actions"}) {
		t.Fatalf("Command = %+v, %v, %v", cmd, ok, err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, c := range []struct {
		name, contentType, body string
		want                    error
	}{
		{"JSON body", "application/json", `{"type":"block_actions"}`, ErrContentType},
		{"no content type", "", "payload=%7B%7D", ErrContentType},
		{"multipart", "multipart/form-data; boundary=x", "payload=%7B%7D", ErrContentType},
		{"no payload field", "application/x-www-form-urlencoded", "token=x&type=block_actions", ErrBadPayload},
		{"bad form encoding", "application/x-www-form-urlencoded", "payload=%zz", ErrBadPayload},
		{"payload not JSON", "application/x-www-form-urlencoded", string(form("{type: block_actions")), ErrBadPayload},
		{"payload without type", "application/x-www-form-urlencoded", string(form(`{"user":{"id":"U1"}}`)), ErrBadPayload},
		{"payload of the wrong shape", "application/x-www-form-urlencoded", string(form(`{"type":"block_actions","actions":"ack"}`)), ErrBadPayload},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Parse(c.contentType, []byte(c.body)); !errors.Is(err, c.want) {
				t.Fatalf("Parse: %v, want %v", err, c.want)
			}
		})
	}
}

func TestCommand(t *testing.T) {
	user := User{ID: "U1"}
	press := func(actions ...Action) Payload { return Payload{Type: TypeBlockActions, User: user, Actions: actions} }
	for _, c := range []struct {
		name    string
		p       Payload
		want    Command
		ok, bad bool
	}{
		{"acknowledge", press(Action{ActionID: "ack", BlockID: "b", Value: "g1"}), Command{ActionAcknowledge, "g1", "b"}, true, false},
		{"resolve", press(Action{ActionID: "resolve", Value: "g1"}), Command{ActionResolve, "g1", ""}, true, false},
		{"the runbook link reports a press too", press(Action{ActionID: "runbook"}), Command{}, false, false},
		{"ours after another element", press(Action{ActionID: "runbook"}, Action{ActionID: "resolve", Value: "g2"}), Command{ActionResolve, "g2", ""}, true, false},
		{"a modal submission", Payload{Type: "view_submission", User: user}, Command{}, false, false},
		{"a shortcut", Payload{Type: "shortcut", User: user}, Command{}, false, false},
		{"no actions", press(), Command{}, false, false},
		{"no group key", press(Action{ActionID: "ack"}), Command{}, false, true},
		{"group key too long", press(Action{ActionID: "ack", Value: strings.Repeat("g", maxGroupKey+1)}), Command{}, false, true},
		{"no user", Payload{Type: TypeBlockActions, Actions: []Action{{ActionID: "ack", Value: "g"}}}, Command{}, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok, err := c.p.Command()
			if (err != nil) != c.bad || ok != c.ok || got != c.want {
				t.Fatalf("Command = %+v, %v, %v; want %+v, %v, error %v", got, ok, err, c.want, c.ok, c.bad)
			}
			if c.bad && !errors.Is(err, ErrBadPayload) {
				t.Fatalf("error %v is not ErrBadPayload", err)
			}
		})
	}
}
