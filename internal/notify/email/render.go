package email

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/notify"
)

// The mail is written with strings.Builder rather than html/template or
// text/template: those call reflect's MethodByName, which turns off the
// linker's dead-method elimination for the whole notify binary. The HTML
// part escapes exactly as html/template did, so the mail reads the same.

// Message is a rendered notification: one subject, and the same content as HTML and
// as plain text for clients that do not show HTML.
type Message struct {
	Subject string
	HTML    string
	Text    string
}

const (
	// maxSubject keeps the subject readable in a mail client's list.
	maxSubject = 150
	// maxListed is how many failures a mail shows one by one.
	maxListed = 50
	// maxEvidence is how many of a failure's evidence events (its customer's
	// recent timeline) a mail lists.
	maxEvidence = 10
	// maxEvidenceAttributes is how many attributes each evidence event shows.
	maxEvidenceAttributes = 6
)

// view is what both parts show; building it once keeps the HTML and text
// parts saying the same thing.
type view struct {
	Title    string
	Kind     string
	Severity string
	// Colour is one of the fixed values of colour, so it is safe as CSS.
	Colour    string
	TeamID    string
	TeamName  string
	Owner     string
	Rules     string
	Count     int
	GroupKey  string
	Labels    []notify.Attribute
	Failures  []failure
	MoreItems int
	Muted     int
	Runbook   string
}

type failure struct {
	ID          string
	RuleID      string
	Description string
	Customer    string
	// CustomerURL and FailureURL are their console pages, or "".
	CustomerURL string
	FailureURL  string
	State       string
	Step        string
	Summary     string
	DetectedAt  string
	Labels      []notify.Attribute
	Evidence    []evidence
	MoreEvents  int
}

type evidence struct {
	Type       string
	Channel    string
	OccurredAt string
	Attributes []notify.Attribute
}

// Render builds the mail for notification n, naming customers by the
// identity their events carried.
func Render(n notify.Notification) (Message, error) { return RenderNamed(n, notify.Naming{}) }

// RenderNamed builds the mail for notification n, naming customers and
// linking them and their failures to the console as naming says.
func RenderNamed(n notify.Notification, naming notify.Naming) (Message, error) {
	fs := n.Failures
	v := view{
		Kind:     strings.ToUpper(n.Kind),
		Severity: strings.ToUpper(events.WorstSeverity(fs)),
		Colour:   colour(events.WorstSeverity(fs)),
		TeamID:   n.Team.ID,
		TeamName: n.Team.Name,
		Owner:    n.Owner,
		Count:    len(fs),
		GroupKey: n.GroupKey,
		Muted:    n.Muted,
	}
	if n.Kind == notify.Firing {
		v.Kind = "FAILING"
	}
	if n.Kind == notify.Resolved {
		v.Colour = "#188038"
	}
	if v.TeamName == "" {
		v.TeamName = n.Team.ID
	}
	var rules []string
	runbook := ""
	for i, f := range fs {
		if !slices.Contains(rules, f.RuleID) {
			rules = append(rules, f.RuleID)
		}
		if i == 0 {
			runbook = f.Runbook
		} else if f.Runbook != runbook {
			runbook = ""
		}
	}
	v.Rules = strings.Join(rules, ", ")
	v.Runbook = linkable(runbook)
	v.Title = fmt.Sprintf("%d failures", len(fs))
	if len(rules) == 1 && len(fs) > 0 {
		v.Title = oneLine(fs[0].Description)
		if len(fs) > 1 {
			v.Title = fmt.Sprintf("%d× %s", len(fs), v.Title)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(n.Labels)) {
		v.Labels = append(v.Labels, notify.Attribute{Key: k, Value: n.Labels[k]})
	}
	for i, f := range fs {
		if i == maxListed {
			v.MoreItems = len(fs) - i
			break
		}
		v.Failures = append(v.Failures, view1(f, naming))
	}

	// A subject is one header line: line breaks from a description must not
	// reach it.
	subject := notify.Shorten(fmt.Sprintf("[%s %s] %s (%s)", v.Kind, v.Severity, v.Title, v.TeamName), maxSubject)
	return Message{Subject: subject, HTML: v.html(), Text: v.text()}, nil
}

// view1 is one failure as the mail shows it, its evidence as the
// customer's timeline, oldest first.
func view1(f events.Failure, naming notify.Naming) failure {
	out := failure{ID: f.ID, RuleID: f.RuleID, Description: oneLine(f.Description), Customer: naming.Customer(f),
		State: f.State, Summary: oneLine(f.Summary), DetectedAt: stamp(f.DetectedAt),
		CustomerURL: linkable(naming.CustomerURL(f.CustomerID)), FailureURL: linkable(naming.FailureURL(f.ID))}
	if out.Customer == "" {
		out.Customer = "no customer"
	}
	if out.State == "" {
		out.State = "open"
	}
	if n := len(f.History); n > 1 {
		h := f.History[n-1]
		out.Step = fmt.Sprintf("%s by %s at %s", h.State, h.By, stamp(h.At))
	}
	for _, k := range slices.Sorted(maps.Keys(f.Labels)) {
		out.Labels = append(out.Labels, notify.Attribute{Key: k, Value: f.Labels[k]})
	}
	ev := slices.SortedStableFunc(slices.Values(f.Evidence), func(a, b events.Evidence) int { return a.OccurredAt.Compare(b.OccurredAt) })
	if len(ev) > maxEvidence {
		out.MoreEvents = len(ev) - maxEvidence
		ev = ev[len(ev)-maxEvidence:]
	}
	for _, e := range ev {
		out.Evidence = append(out.Evidence, evidence{
			Type:       e.Type,
			Channel:    e.Channel,
			OccurredAt: stamp(e.OccurredAt),
			Attributes: notify.KeyAttributes(e.Attributes, maxEvidenceAttributes),
		})
	}
	return out
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// linkable keeps only plain http(s) runbook links, so a mail never carries a
// javascript: or data: link.
func linkable(u string) string {
	p, err := url.Parse(u)
	if u == "" || err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return ""
	}
	return u
}

func colour(severity string) string {
	switch strings.ToLower(severity) {
	case "critical", "error", "page":
		return "#d93025"
	case "warning":
		return "#e37400"
	case "info":
		return "#1a73e8"
	}
	return "#5f6368"
}

// th is the start of a row of the HTML part's summary table, up to its
// value cell.
func th(name string) string {
	return `<tr><th align="left" style="padding-right:16px;color:#5f6368">` + name + `</th><td>`
}

// html is the HTML part. Every value from a notification goes through esc,
// or href for a link, so nothing a customer or a rule wrote is read as markup.
func (v view) html() string {
	b := &strings.Builder{}
	raw := func(ss ...string) {
		for _, s := range ss {
			b.WriteString(s)
		}
	}
	e := func(s string) { esc(b, s) }
	n := func(i int) { b.WriteString(strconv.Itoa(i)) }

	raw("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width\">\n<title>[")
	e(v.Kind)
	raw(" ")
	e(v.Severity)
	raw("] ")
	e(v.Title)
	raw("</title>\n</head>\n",
		`<body style="margin:0;padding:24px;background:#f4f5f7;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#202124">`, "\n",
		`<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:640px;margin:0 auto;background:#ffffff;border-radius:6px;border-top:6px solid `)
	e(v.Colour)
	raw("\">\n", `<tr><td style="padding:24px">`, "\n",
		`<p style="margin:0 0 4px;font-size:12px;font-weight:bold;letter-spacing:1px;color:`)
	e(v.Colour)
	raw(`">`)
	e(v.Kind)
	raw(" ")
	e(v.Severity)
	raw("</p>\n", `<h1 style="margin:0 0 20px;font-size:20px;line-height:1.3">`)
	e(v.Title)
	raw("</h1>\n", `<table role="presentation" cellpadding="0" cellspacing="0" style="font-size:14px;line-height:1.6">`, "\n", th("Team"))
	e(v.TeamName)
	raw("</td></tr>")
	if v.Owner != "" {
		raw("\n", th("Escalated"), "not acknowledged in time by team <code>")
		e(v.Owner)
		raw("</code></td></tr>")
	}
	raw("\n", th("Failures"))
	n(v.Count)
	raw("</td></tr>\n", th("Rule"), "<code>")
	e(v.Rules)
	raw("</code></td></tr>")
	if len(v.Labels) > 0 {
		raw("\n", th("Grouped by"))
		for i, l := range v.Labels {
			if i > 0 {
				raw(", ")
			}
			e(l.Key)
			raw("=")
			e(l.Value)
		}
		raw("</td></tr>")
	}
	raw("\n</table>")
	for _, f := range v.Failures {
		raw("\n", `<h2 style="margin:24px 0 4px;font-size:15px">`)
		if f.CustomerURL != "" {
			raw(`<a href="`)
			href(b, f.CustomerURL)
			raw(`">`)
			e(f.Customer)
			raw("</a>")
		} else {
			e(f.Customer)
		}
		raw(` <span style="font-weight:normal;color:#5f6368">· <code>`)
		e(f.RuleID)
		raw("</code> · ")
		e(f.State)
		raw(" · detected ")
		e(f.DetectedAt)
		raw(" · failure ")
		if f.FailureURL != "" {
			raw(`<a href="`)
			href(b, f.FailureURL)
			raw(`"><code>`)
			e(f.ID)
			raw("</code></a>")
		} else {
			raw("<code>")
			e(f.ID)
			raw("</code>")
		}
		raw("</span></h2>\n", `<p style="margin:0;font-size:14px">`)
		e(f.Description)
		if f.Summary != "" {
			raw(" — ")
			e(f.Summary)
		}
		raw("</p>")
		if f.Step != "" {
			raw("\n", `<p style="margin:0;font-size:13px;color:#5f6368"><em>`)
			e(f.Step)
			raw("</em></p>")
		}
		if len(f.Evidence) > 0 {
			raw("\n", `<ul style="margin:4px 0 0;padding-left:20px;font-size:13px;line-height:1.5">`)
			if f.MoreEvents != 0 {
				raw("\n<li>(")
				n(f.MoreEvents)
				raw(" earlier events not shown)</li>")
			}
			for _, ev := range f.Evidence {
				raw("\n<li>")
				e(ev.OccurredAt)
				raw(" <code>")
				e(ev.Type)
				raw("</code> on ")
				e(ev.Channel)
				if len(ev.Attributes) > 0 {
					raw("\n", `<ul style="padding-left:16px;color:#5f6368">`)
					for _, a := range ev.Attributes {
						raw("\n<li>")
						e(a.Key)
						raw(": ")
						e(a.Value)
						raw("</li>")
					}
					raw("\n</ul>")
				}
				raw("\n</li>")
			}
			raw("\n</ul>")
		}
	}
	if v.MoreItems != 0 {
		raw("\n", `<p style="margin:16px 0 0;font-size:14px">…and `)
		n(v.MoreItems)
		raw(" more failures in this group</p>")
	}
	if v.Runbook != "" {
		raw("\n", `<p style="margin:24px 0 0"><a href="`)
		href(b, v.Runbook)
		raw(`" style="display:inline-block;padding:8px 16px;background:#1a73e8;color:#ffffff;text-decoration:none;border-radius:4px">Open runbook</a></p>`)
	}
	raw("\n", `<p style="margin:24px 0 0;font-size:12px;color:#5f6368">OCX group <code>`)
	e(v.GroupKey)
	raw("</code> for team <code>")
	e(v.TeamID)
	raw("</code>.")
	if v.Muted != 0 {
		raw(" ")
		n(v.Muted)
		raw(" more failures are muted by silences or inhibition.")
	}
	raw(" Acknowledge or resolve in Slack, or see <code>GET /v1/failures?team=")
	e(v.TeamID)
	raw("</code>.</p>\n</td></tr>\n</table>\n</body>\n</html>\n")
	return b.String()
}

// text is the plain-text part: the same content as html, shown as is.
func (v view) text() string {
	b := &strings.Builder{}
	w := func(ss ...string) {
		for _, s := range ss {
			b.WriteString(s)
		}
	}
	w("[", v.Kind, " ", v.Severity, "] ", v.Title, "\n\nTeam:        ", v.TeamName)
	if v.Owner != "" {
		w("\nEscalated:   not acknowledged in time by team ", v.Owner)
	}
	w("\nFailures:    ", strconv.Itoa(v.Count), "\nRule:        ", v.Rules)
	if len(v.Labels) > 0 {
		w("\nGrouped by:  ")
		for i, l := range v.Labels {
			if i > 0 {
				w(", ")
			}
			w(l.Key, "=", l.Value)
		}
	}
	for _, f := range v.Failures {
		w("\n\n* ", f.Customer, " - ", f.RuleID, " - ", f.State, " - detected ", f.DetectedAt, " - failure ", f.ID,
			"\n  ", f.Description)
		if f.FailureURL != "" {
			w("\n  Failure:  ", f.FailureURL)
		}
		if f.CustomerURL != "" {
			w("\n  Customer: ", f.CustomerURL)
		}
		if f.Summary != "" {
			w("\n  ", f.Summary)
		}
		if f.Step != "" {
			w("\n  ", f.Step)
		}
		if f.MoreEvents != 0 {
			w("\n  (", strconv.Itoa(f.MoreEvents), " earlier events not shown)")
		}
		for _, ev := range f.Evidence {
			w("\n  - ", ev.OccurredAt, " ", ev.Type, " on ", ev.Channel)
			for _, a := range ev.Attributes {
				w("\n      ", a.Key, ": ", a.Value)
			}
		}
	}
	if v.MoreItems != 0 {
		w("\n\n...and ", strconv.Itoa(v.MoreItems), " more failures in this group")
	}
	if v.Runbook != "" {
		w("\n\nRunbook: ", v.Runbook)
	}
	w("\n\n--\nOCX group ", v.GroupKey, " for team ", v.TeamID, ".")
	if v.Muted != 0 {
		w(" ", strconv.Itoa(v.Muted), " more failures are muted by silences or inhibition.")
	}
	w("\nAcknowledge or resolve in Slack, or see GET /v1/failures?team=", v.TeamID, ".\n")
	return b.String()
}

// esc writes s escaped for HTML text or a double-quoted attribute value. It
// escapes what html/template escaped there, '+' and NUL included (more than
// html.EscapeString), so the mail is the same as the template made it.
func esc(b *strings.Builder, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var r string
		switch s[i] {
		case 0:
			r = "\uFFFD"
		case '"':
			r = "&#34;"
		case '&':
			r = "&amp;"
		case '\'':
			r = "&#39;"
		case '+':
			r = "&#43;"
		case '<':
			r = "&lt;"
		case '>':
			r = "&gt;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(r)
		last = i + 1
	}
	b.WriteString(s[last:])
}

// unsafeURL is what html/template put in place of a link it would not
// emit: a fragment that goes nowhere.
const unsafeURL = "#ZgotmplZ"

// href writes u as a double-quoted href value. Only an http(s) link with a
// host is written (the view holds no other, but the link is where markup
// turns into script, so it is checked again here); it is percent-encoded
// where a URL must not carry a byte as is, then HTML-escaped.
func href(b *strings.Builder, u string) {
	if linkable(u) == "" {
		b.WriteString(unsafeURL)
		return
	}
	esc(b, normalURL(u))
}

// normalURL percent-encodes the bytes of u that are neither unreserved nor
// reserved in RFC 3986, leaving valid escapes alone, as html/template did
// for a link.
func normalURL(u string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	last := 0
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			strings.IndexByte("-._~!#$&*+,/:;=?@[]", c) >= 0,
			c == '%' && i+2 < len(u) && isHex(u[i+1]) && isHex(u[i+2]):
			continue
		}
		b.WriteString(u[last:i])
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
		last = i + 1
	}
	if last == 0 {
		return u
	}
	b.WriteString(u[last:])
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
