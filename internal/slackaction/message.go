package slackaction

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/failure"
)

// StatusBlockID names the context block that says who acknowledged or
// resolved the alert. A later press replaces it rather than adding another.
const StatusBlockID = "ocx_status"

// Outcome is where a press left the alert's group.
type Outcome struct {
	// State is failure.Acknowledged or failure.Resolved.
	State string
	// By and At are the recorded step that got the group there.
	By string
	At time.Time
	// Failures is how many failures the group holds.
	Failures int
}

// update is a response_url body that rewrites the message.
type update struct {
	ReplaceOriginal bool              `json:"replace_original"`
	Text            string            `json:"text"`
	Blocks          []json.RawMessage `json:"blocks,omitempty"`
}

// ephemeral is a response_url body only the presser sees.
type ephemeral struct {
	ResponseType    string `json:"response_type"`
	ReplaceOriginal bool   `json:"replace_original"`
	Text            string `json:"text"`
}

// block is the part of a Block Kit block the rewrite looks at.
type block struct {
	Type     string            `json:"type"`
	BlockID  string            `json:"block_id"`
	Elements []json.RawMessage `json:"elements"`
}

type element struct {
	ActionID string `json:"action_id"`
}

// Rewrite returns the message msg showing o: its blocks as they were, less
// the buttons that no longer apply (Acknowledge after an acknowledgement,
// both after a resolution; other buttons such as the runbook link stay), and
// a status line after them. actionsBlock is the block_id of the pressed
// button's block; group is the button value a kept Resolve button carries.
func Rewrite(msg *Message, o Outcome, actionsBlock, group string) ([]byte, error) {
	status := statusBlock(o)
	if msg == nil {
		return json.Marshal(update{ReplaceOriginal: true, Text: statusText(o)})
	}
	out := make([]json.RawMessage, 0, len(msg.Blocks)+1)
	placed := false
	for i, raw := range msg.Blocks {
		var b block
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("message block %d: %w", i, err)
		}
		if b.BlockID == StatusBlockID {
			continue
		}
		if placed || b.Type != "actions" || !ours(b, actionsBlock) {
			out = append(out, raw)
			continue
		}
		kept, err := keptButtons(b, o.State, group)
		if err != nil {
			return nil, fmt.Errorf("message block %d: %w", i, err)
		}
		if kept != nil {
			out = append(out, kept)
		}
		out = append(out, status)
		placed = true
	}
	if !placed {
		out = append(out, status)
	}
	return json.Marshal(update{ReplaceOriginal: true, Text: msg.Text, Blocks: out})
}

// ours reports whether b is the actions block holding OCX's buttons.
func ours(b block, blockID string) bool {
	if blockID != "" && b.BlockID == blockID {
		return true
	}
	for _, raw := range b.Elements {
		var e element
		if json.Unmarshal(raw, &e) == nil && (e.ActionID == ActionAcknowledge || e.ActionID == ActionResolve) {
			return true
		}
	}
	return false
}

// keptButtons returns b without the buttons state makes moot, or nil when
// nothing is left. An acknowledged group keeps (or gains) its Resolve button.
func keptButtons(b block, state, group string) (json.RawMessage, error) {
	var elems []json.RawMessage
	hasResolve := false
	for _, raw := range b.Elements {
		var e element
		_ = json.Unmarshal(raw, &e)
		switch {
		case e.ActionID == ActionAcknowledge:
			continue
		case e.ActionID == ActionResolve && state == failure.Resolved:
			continue
		case e.ActionID == ActionResolve:
			hasResolve = true
		}
		elems = append(elems, raw)
	}
	if state == failure.Acknowledged && !hasResolve {
		elems = append(elems, resolveButton(group))
	}
	if len(elems) == 0 {
		return nil, nil
	}
	return json.Marshal(block{Type: b.Type, BlockID: b.BlockID, Elements: elems})
}

func resolveButton(group string) json.RawMessage {
	return mustJSON(map[string]any{
		"type":      "button",
		"action_id": ActionResolve,
		"value":     group,
		"style":     "primary",
		"text":      map[string]any{"type": "plain_text", "text": "Resolve"},
	})
}

func statusBlock(o Outcome) json.RawMessage {
	return mustJSON(map[string]any{
		"type":     "context",
		"block_id": StatusBlockID,
		"elements": []any{map[string]any{"type": "mrkdwn", "text": statusMarkdown(o)}},
	})
}

// statusMarkdown shows the time in each reader's own time zone.
func statusMarkdown(o Outcome) string {
	at := fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", o.At.Unix(), o.At.UTC().Format(time.RFC3339))
	return fmt.Sprintf("%s %s by %s at %s%s", mark(o.State), verb(o.State), who(o.By), at, count(o.Failures))
}

// statusText is the plain fallback of statusMarkdown.
func statusText(o Outcome) string {
	return fmt.Sprintf("%s by %s at %s%s", verb(o.State), who(o.By), o.At.UTC().Format(time.RFC3339), count(o.Failures))
}

func verb(state string) string {
	if state == failure.Resolved {
		return "Resolved"
	}
	return "Acknowledged"
}

func mark(state string) string {
	if state == failure.Resolved {
		return ":white_check_mark:"
	}
	return ":eyes:"
}

func count(n int) string {
	if n == 1 {
		return " (1 failure)"
	}
	return fmt.Sprintf(" (%d failures)", n)
}

// who mentions a Slack user so the name shows as Slack knows it; anyone
// else (an API caller) is shown as recorded, escaped for mrkdwn.
func who(by string) string {
	if id, ok := strings.CutPrefix(by, "slack:"); ok && id != "" && !strings.ContainsAny(id, "<>|&") {
		return "<@" + id + ">"
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(by)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps, slices and strings built here are marshalled.
		panic(err)
	}
	return b
}
