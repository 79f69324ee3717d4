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

// Button is a Block Kit button element.
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
	BlockFailure  = "failure-" // + index in the message
	BlockMore     = "more"
	BlockActions  = "actions"
	BlockContext  = "context"
	ActionRunbook = "runbook"
	// ActionAck and ActionResolve carry the group key as their value; the
	// Slack actions endpoint acknowledges or resolves every failure of it.
	ActionAck     = "ack"
	ActionResolve = "resolve"
	// ActionContacted, on a missed follow-up's alert, records that the
	// presser reached the customer.
	ActionContacted = "contacted"
)

// Limits Slack enforces on a message; a payload beyond them is rejected
// with invalid_blocks.
const (
	MaxBlocks      = 50
	MaxHeaderText  = 150
	MaxSectionText = 3000
	MaxFieldText   = 2000
	MaxButtonText  = 75
	MaxButtonValue = 2000
	MaxURL         = 3000
	// maxFallback keeps the notification text readable; Slack itself cuts
	// far later.
	maxFallback = 1000
	// maxEvidenceAttributes is how many attributes each evidence line shows.
	maxEvidenceAttributes = 4
	// MaxListed is how many failures a message shows one by one; the rest
	// are counted.
	MaxListed = 10
	// maxTimeline is how many of a failure's evidence events it shows.
	maxTimeline = 5
)

// Render builds the Slack message for notification n, naming customers by
// the identity their events carried.
func Render(n notify.Notification) Message { return RenderNamed(n, notify.Naming{}) }

// RenderNamed builds the Slack message for notification n, naming
// customers and linking them and their failures to the console as naming
// says.
func RenderNamed(n notify.Notification, naming notify.Naming) Message {
	fs := n.Failures
	teamName := n.Team.Name
	if teamName == "" {
		teamName = n.Team.ID
	}
	severity := strings.ToUpper(events.WorstSeverity(fs))
	blocks := []Block{{
		Type:    "header",
		BlockID: BlockHeader,
		Text:    &Text{Type: "plain_text", Emoji: true, Text: notify.Shorten(headline(n, severity), MaxHeaderText)},
	}}
	fields := []Text{
		field("Team", escape(teamName)),
		field("Failures", fmt.Sprint(len(fs))),
		field("Rule", codes(rules(fs))),
		field("Severity", escape(severity)),
	}
	if n.Kind == notify.Escalated {
		fields = append(fields, field("Escalated from", code(n.Owner)))
	}
	if len(n.Labels) > 0 {
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(n.Labels)) {
			ls = append(ls, escape(k+"="+n.Labels[k]))
		}
		fields = append(fields, field("Grouped by", strings.Join(ls, ", ")))
	}
	blocks = append(blocks, Block{Type: "section", BlockID: BlockSummary, Fields: fields})
	for i, f := range fs {
		if i == MaxListed {
			blocks = append(blocks, Block{Type: "context", BlockID: BlockMore, Elements: []any{
				Text{Type: "mrkdwn", Text: fmt.Sprintf("…and %d more failures in this group", len(fs)-i)},
			}})
			break
		}
		blocks = append(blocks, Block{Type: "section", BlockID: BlockFailure + fmt.Sprint(i),
			Text: &Text{Type: "mrkdwn", Text: failureText(f, naming)}})
	}
	buttons := []any{
		Button{Type: "button", ActionID: ActionAck, Value: n.GroupKey, Style: "primary",
			Text: Text{Type: "plain_text", Text: "Acknowledge", Emoji: true}},
		Button{Type: "button", ActionID: ActionResolve, Value: n.GroupKey,
			Text: Text{Type: "plain_text", Text: "Resolve", Emoji: true}},
	}
	if strings.HasPrefix(n.GroupKey, notify.FollowUpGroupKey("")) && n.Kind == notify.Escalated {
		buttons = append(buttons, Button{Type: "button", ActionID: ActionContacted, Value: n.GroupKey,
			Text: Text{Type: "plain_text", Text: "Contacted", Emoji: true}})
	}
	if u, ok := linkable(runbook(fs)); ok {
		buttons = append(buttons, Button{Type: "button", ActionID: ActionRunbook, URL: u,
			Text: Text{Type: "plain_text", Text: "Open runbook", Emoji: true}})
	}
	blocks = append(blocks, Block{Type: "actions", BlockID: BlockActions, Elements: buttons})
	note := fmt.Sprintf("OCX group %s · team %s", code(n.GroupKey), code(n.Team.ID))
	if n.Muted > 0 {
		note += fmt.Sprintf(" · %d more muted by silences or inhibition", n.Muted)
	}
	blocks = append(blocks, Block{Type: "context", BlockID: BlockContext, Elements: []any{Text{Type: "mrkdwn", Text: note}}})
	return Message{Text: fallback(n, severity, teamName, naming), Blocks: blocks}
}

// headline says in one line what the group is about.
func headline(n notify.Notification, severity string) string {
	what := "FAILING"
	switch n.Kind {
	case notify.Resolved:
		what = "RESOLVED"
	case notify.Escalated:
		what = "ESCALATED"
	}
	desc := fmt.Sprintf("%d failures", len(n.Failures))
	if rs := rules(n.Failures); len(rs) == 1 && len(n.Failures) > 0 {
		desc = oneLine(n.Failures[0].Description)
		if len(n.Failures) > 1 {
			desc = fmt.Sprintf("%d× %s", len(n.Failures), desc)
		}
	}
	mark := emoji(severity)
	if n.Kind == notify.Resolved {
		mark = ":white_check_mark:"
	}
	return fmt.Sprintf("%s %s %s: %s", mark, what, severity, desc)
}

// failureText is one failure: for whom, what was measured, its state and
// the customer's recent timeline from its evidence.
func failureText(f events.Failure, naming notify.Naming) string {
	customer := escape(naming.Customer(f))
	if customer == "" {
		customer = "no customer"
	} else if u, ok := linkable(naming.CustomerURL(f.CustomerID)); ok {
		customer = "<" + u + "|" + customer + ">"
	}
	state := f.State
	if state == "" {
		state = "open"
	}
	failureRef := code(f.ID)
	if u, ok := linkable(naming.FailureURL(f.ID)); ok {
		failureRef = "<" + u + "|" + escape(f.ID) + ">"
	}
	head := fmt.Sprintf("*%s* · %s · %s · detected %s · failure %s", customer, code(f.RuleID), escape(state), date(f.DetectedAt), failureRef)
	if f.Summary != "" {
		head += "\n" + escape(oneLine(f.Summary))
	}
	if by := lastStep(f); by != "" {
		head += "\n" + by
	}
	if len(f.Evidence) == 0 {
		return notify.Shorten(head, MaxSectionText)
	}
	ev := timeline(f.Evidence)
	if left := len(f.Evidence) - len(ev); left > 0 {
		head += fmt.Sprintf("\n_%d earlier events not shown_", left)
	}
	return notify.Shorten(head+"\n"+evidence(ev), MaxSectionText)
}

// lastStep says who acknowledged or resolved the failure.
func lastStep(f events.Failure) string {
	if n := len(f.History); n > 1 {
		h := f.History[n-1]
		return fmt.Sprintf("_%s by %s %s_", escape(h.State), escape(h.By), date(h.At))
	}
	return ""
}

// timeline is the newest evidence events, oldest first.
func timeline(ev []events.Evidence) []events.Evidence {
	ev = slices.SortedStableFunc(slices.Values(ev), func(a, b events.Evidence) int { return a.OccurredAt.Compare(b.OccurredAt) })
	if len(ev) > maxTimeline {
		ev = ev[len(ev)-maxTimeline:]
	}
	return ev
}

// rules lists the distinct rules of fs in order of appearance.
func rules(fs []events.Failure) []string {
	var out []string
	for _, f := range fs {
		if !slices.Contains(out, f.RuleID) {
			out = append(out, f.RuleID)
		}
	}
	return out
}

// runbook is the runbook all of fs share, or "".
func runbook(fs []events.Failure) string {
	if len(fs) == 0 {
		return ""
	}
	for _, f := range fs[1:] {
		if f.Runbook != fs[0].Runbook {
			return ""
		}
	}
	return fs[0].Runbook
}

func codes(ss []string) string {
	var out []string
	for _, s := range ss {
		out = append(out, code(s))
	}
	return strings.Join(out, ", ")
}

// fallback says in one line what the blocks say.
func fallback(n notify.Notification, severity, teamName string, naming notify.Naming) string {
	var b strings.Builder
	b.WriteString(headline(n, severity))
	fmt.Fprintf(&b, " — team %s, rule %s", teamName, strings.Join(rules(n.Failures), ", "))
	var cs []string
	for _, f := range n.Failures {
		if c := naming.Customer(f); c != "" && !slices.Contains(cs, c) && len(cs) < 5 {
			cs = append(cs, c)
		}
	}
	if len(cs) > 0 {
		fmt.Fprintf(&b, ", customers %s", strings.Join(cs, ", "))
		if len(n.Failures) > len(cs) {
			b.WriteString(" and others")
		}
	}
	b.WriteString(".")
	if u, ok := linkable(runbook(n.Failures)); ok {
		b.WriteString(" Runbook: " + u)
	}
	return escape(notify.Shorten(b.String(), maxFallback))
}

// evidence lists the contributing events, one line each, cut to fit a
// section with a note of how many were left out.
func evidence(ev []events.Evidence) string {
	const title = "_Timeline_"
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
