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
	"github.com/ocxhq/ocx/internal/team"
)

// Message is a rendered alert: one subject, and the same content as HTML and
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
	// maxEvidence is how many evidence events a mail lists in full.
	maxEvidence = 20
	// maxEvidenceAttributes is how many attributes each evidence event shows.
	maxEvidenceAttributes = 6
)

// view is what both templates show; building it once keeps the HTML and
// text parts saying the same thing.
type view struct {
	Severity string
	// Colour is one of the fixed values of colour, so it is safe as CSS.
	Colour      htmltemplate.CSS
	Description string
	RuleID      string
	TeamID      string
	TeamName    string
	Customer    string
	FailureID   string
	DetectedAt  string
	Labels      []notify.Attribute
	Evidence    []evidence
	MoreEvents  int
	Runbook     string
}

type evidence struct {
	Type       string
	Channel    string
	OccurredAt string
	Attributes []notify.Attribute
}

// Render builds the alert mail for failure f owned by team t.
func Render(t team.Team, f events.Failure) (Message, error) {
	v := view{
		Severity:    strings.ToUpper(f.Severity),
		Colour:      colour(f.Severity),
		Description: f.Description,
		RuleID:      f.RuleID,
		TeamID:      t.ID,
		TeamName:    t.Name,
		Customer:    f.CustomerID,
		FailureID:   f.ID,
		DetectedAt:  stamp(f.DetectedAt),
		Runbook:     linkable(f.Runbook),
	}
	if v.Severity == "" {
		v.Severity = "FAILURE"
	}
	if v.TeamName == "" {
		v.TeamName = t.ID
	}
	if v.Customer == "" {
		v.Customer = "unknown"
	}
	for _, k := range slices.Sorted(maps.Keys(f.Labels)) {
		v.Labels = append(v.Labels, notify.Attribute{Key: k, Value: f.Labels[k]})
	}
	for i, e := range f.Evidence {
		if i == maxEvidence {
			v.MoreEvents = len(f.Evidence) - i
			break
		}
		v.Evidence = append(v.Evidence, evidence{
			Type:       e.Type,
			Channel:    e.Channel,
			OccurredAt: stamp(e.OccurredAt),
			Attributes: notify.KeyAttributes(e.Attributes, maxEvidenceAttributes),
		})
	}

	var html, text bytes.Buffer
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return Message{}, fmt.Errorf("render HTML mail for failure %s: %w", f.ID, err)
	}
	if err := textTmpl.Execute(&text, v); err != nil {
		return Message{}, fmt.Errorf("render text mail for failure %s: %w", f.ID, err)
	}
	// A subject is one header line: line breaks from a description must not
	// reach it.
	subject := notify.Shorten(fmt.Sprintf("[%s] %s (%s)", v.Severity, oneLine(f.Description), v.TeamName), maxSubject)
	return Message{Subject: subject, HTML: html.String(), Text: text.String()}, nil
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
