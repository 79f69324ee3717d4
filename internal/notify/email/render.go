package email

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"maps"
	"net/url"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/notify"
)

// Message is a rendered notification: one subject, and the same content as HTML and
// as plain text for clients that do not show HTML.
type Message struct {
	Subject string
	HTML    string
	Text    string
}

//go:embed templates
var templates embed.FS

var (
	htmlTmpl = htmltemplate.Must(htmltemplate.ParseFS(templates, "templates/alert.html.tmpl"))
	textTmpl = texttemplate.Must(texttemplate.ParseFS(templates, "templates/alert.txt.tmpl"))
)

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

// view is what both templates show; building it once keeps the HTML and
// text parts saying the same thing.
type view struct {
	Title    string
	Kind     string
	Severity string
	// Colour is one of the fixed values of colour, so it is safe as CSS.
	Colour    htmltemplate.CSS
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
		Severity: strings.ToUpper(worst(fs)),
		Colour:   colour(worst(fs)),
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

	var html, text bytes.Buffer
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return Message{}, fmt.Errorf("render HTML mail for group %s: %w", n.GroupKey, err)
	}
	if err := textTmpl.Execute(&text, v); err != nil {
		return Message{}, fmt.Errorf("render text mail for group %s: %w", n.GroupKey, err)
	}
	// A subject is one header line: line breaks from a description must not
	// reach it.
	subject := notify.Shorten(fmt.Sprintf("[%s %s] %s (%s)", v.Kind, v.Severity, v.Title, v.TeamName), maxSubject)
	return Message{Subject: subject, HTML: html.String(), Text: text.String()}, nil
}

// view1 is one failure as the templates show it, its evidence as the
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

var severityRank = map[string]int{"info": 1, "warning": 2, "error": 3, "critical": 4, "page": 5}

// worst is the highest severity among fs.
func worst(fs []events.Failure) string {
	out := ""
	for _, f := range fs {
		if s := strings.ToLower(f.Severity); out == "" || severityRank[s] > severityRank[out] {
			out = s
		}
	}
	if out == "" {
		return "failure"
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

func colour(severity string) htmltemplate.CSS {
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
