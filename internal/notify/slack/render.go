package slack

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/team"
)

// Message is a Slack incoming-webhook payload: Block Kit blocks plus the
// plain text Slack shows in notifications and where blocks cannot render.
type Message struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Block is one Block Kit layout block. Only the fields of its Type are set.
type Block struct {
	Type     string `json:"type"`
	BlockID  string `json:"block_id,omitempty"`
	Text     *Text  `json:"text,omitempty"`
	Fields   []Text `json:"fields,omitempty"`
	Elements []any  `json:"elements,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type  string `json:"type"` // "plain_text" or "mrkdwn"
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Button is a Block Kit button element. Acknowledge and resolve buttons will
// join the runbook link in the same actions block.
type Button struct {
	Type     string `json:"type"` // "button"
	Text     Text   `json:"text"`
	ActionID string `json:"action_id"`
	URL      string `json:"url,omitempty"`
	Value    string `json:"value,omitempty"`
	Style    string `json:"style,omitempty"`
}

// Block ids and action ids. Slack echoes them in interaction payloads, so
// they are stable names rather than positions.
const (
	BlockHeader   = "header"
	BlockSummary  = "summary"
	BlockEvidence = "evidence"
	BlockActions  = "actions"
	BlockContext  = "context"
	ActionRunbook = "runbook"
)

// Limits Slack enforces on a message; a payload beyond them is rejected
// with invalid_blocks.
const (
	MaxBlocks      = 50
	MaxHeaderText  = 150
	MaxSectionText = 3000
	MaxFieldText   = 2000
	MaxButtonText  = 75
	MaxURL         = 3000
	// maxFallback keeps the notification text readable; Slack itself cuts
	// far later.
	maxFallback = 1000
	// maxEvidenceAttributes is how many attributes each evidence line shows.
	maxEvidenceAttributes = 4
)

// Render builds the Slack message for failure f owned by team t.
func Render(t team.Team, f events.Failure) Message {
	teamName := t.Name
	if teamName == "" {
		teamName = t.ID
	}
	severity := strings.ToUpper(f.Severity)
	if severity == "" {
		severity = "FAILURE"
	}
	customer := f.CustomerID
	if customer == "" {
		customer = "unknown"
	}

	blocks := []Block{{
		Type:    "header",
		BlockID: BlockHeader,
		Text: &Text{Type: "plain_text", Emoji: true,
			Text: notify.Shorten(fmt.Sprintf("%s %s: %s", emoji(f.Severity), severity, oneLine(f.Description)), MaxHeaderText)},
	}}

	fields := []Text{
		field("Rule", code(f.RuleID)),
		field("Team", escape(teamName)),
		field("Customer", escape(customer)),
		field("Detected at", date(f.DetectedAt)),
	}
	if len(f.Labels) > 0 {
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(f.Labels)) {
			ls = append(ls, escape(k+"="+f.Labels[k]))
		}
		fields = append(fields, field("Labels", strings.Join(ls, ", ")))
	}
	blocks = append(blocks, Block{Type: "section", BlockID: BlockSummary, Fields: fields})

	if len(f.Evidence) > 0 {
		blocks = append(blocks, Block{Type: "section", BlockID: BlockEvidence,
			Text: &Text{Type: "mrkdwn", Text: evidence(f.Evidence)}})
	}

	if u, ok := linkable(f.Runbook); ok {
		blocks = append(blocks, Block{Type: "actions", BlockID: BlockActions, Elements: []any{
			Button{Type: "button", ActionID: ActionRunbook, URL: u,
				Text: Text{Type: "plain_text", Text: "Open runbook", Emoji: true}},
		}})
	}

	blocks = append(blocks, Block{Type: "context", BlockID: BlockContext, Elements: []any{
		Text{Type: "mrkdwn", Text: fmt.Sprintf("OCX failure %s · team %s", code(f.ID), code(t.ID))},
	}})

	return Message{Text: fallback(severity, teamName, customer, f), Blocks: blocks}
}

// fallback says in one line what the blocks say.
func fallback(severity, teamName, customer string, f events.Failure) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s — rule %s, team %s, customer %s, detected %s",
		severity, oneLine(f.Description), f.RuleID, teamName, customer, f.DetectedAt.UTC().Format(time.RFC3339))
	if n := len(f.Evidence); n > 0 {
		fmt.Fprintf(&b, ", %d evidence event(s)", n)
	}
	b.WriteString(".")
	if u, ok := linkable(f.Runbook); ok {
		b.WriteString(" Runbook: " + u)
	}
	return escape(notify.Shorten(b.String(), maxFallback))
}

// evidence lists the contributing events, one line each, cut to fit a
// section with a note of how many were left out.
func evidence(ev []events.Evidence) string {
	const title = "*Evidence*"
	lines := make([]string, len(ev))
	for i, e := range ev {
		line := fmt.Sprintf("• %s on %s at %s", code(e.Type), escape(e.Channel), date(e.OccurredAt))
		var attrs []string
		for _, a := range notify.KeyAttributes(e.Attributes, maxEvidenceAttributes) {
			attrs = append(attrs, escape(a.Key)+": "+escape(oneLine(a.Value)))
		}
		if len(attrs) > 0 {
			line += " — " + strings.Join(attrs, ", ")
		}
		lines[i] = line
	}
	text := title
	for i, line := range lines {
		more := ""
		if rest := len(lines) - i - 1; rest > 0 {
			more = fmt.Sprintf("\n…and %d more", rest)
		}
		if utf8.RuneCountInString(text+"\n"+line+more) > MaxSectionText {
			return text + fmt.Sprintf("\n…and %d more", len(lines)-i)
		}
		text += "\n" + line
	}
	return text
}

func field(name, value string) Text {
	return Text{Type: "mrkdwn", Text: notify.Shorten("*"+name+"*\n"+value, MaxFieldText)}
}

// escape makes text safe for mrkdwn: Slack reads <...> as links and
// mentions (<!channel>), so text from customers and channels must not carry
// them through.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// code shows an identifier verbatim.
func code(s string) string {
	if s == "" {
		return "-"
	}
	return "`" + strings.ReplaceAll(escape(oneLine(s)), "`", "'") + "`"
}

// date renders t in each reader's own time zone, with UTC as the fallback.
func date(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time_secs}|%s>", t.Unix(), t.UTC().Format(time.RFC3339))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// linkable reports whether u can be a button URL: Slack refuses the whole
// message for a bad one, so anything but a plain http(s) URL is left out.
func linkable(u string) (string, bool) {
	if u == "" || len(u) > MaxURL {
		return "", false
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return "", false
	}
	return u, true
}

func emoji(severity string) string {
	switch strings.ToLower(severity) {
	case "critical", "error", "page":
		return ":red_circle:"
	case "warning":
		return ":large_orange_circle:"
	case "info":
		return ":large_blue_circle:"
	}
	return ":white_circle:"
}
