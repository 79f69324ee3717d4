package email

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/team"
)

func TestMain(m *testing.M) { mototest.Main(m) }

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var (
	_ notify.Notifier  = (*Notifier)(nil)
	_ notify.Selective = (*Notifier)(nil)
)

var support = team.Team{ID: "cx-support", Name: "Customer support", Slack: "cx-support",
	Email: []string{"cx-support@example.com", "cx-lead@example.org"}}

func detractor() events.Failure {
	at := time.Date(2025, 3, 1, 12, 0, 5, 0, time.UTC)
	return events.Failure{
		ID:          "fail_01JNB6Q1Y8",
		RuleID:      "nps.detractor",
		Description: "A customer answered the NPS survey with 0-6 (a detractor).",
		Severity:    "warning",
		Team:        "cx-support",
		Runbook:     "https://example.com/runbooks/nps-detractor?from=ocx&team=cx-support",
		CustomerID:  "cus_42",
		Labels:      map[string]string{"category": "survey", "region": "eu"},
		DetectedAt:  at,
		Evidence: []events.Evidence{
			{
				EventID: "evt_1", Type: "survey.responded", Channel: "typeform",
				OccurredAt: at.Add(-4 * time.Second),
				Customer:   events.Customer{Email: "ann@example.com"},
				Attributes: map[string]any{
					"survey":  "nps",
					"score":   float64(3),
					"comment": `Parcel late <script>alert("x")</script> & nobody answered`,
				},
			},
			{
				EventID: "evt_0", Type: "ticket.created", Channel: "zendesk",
				OccurredAt: at.Add(-2 * time.Hour),
				Attributes: map[string]any{"priority": "high"},
			},
		},
	}
}

func minimal() events.Failure {
	return events.Failure{
		ID:          "fail_min",
		RuleID:      "order.stalled",
		Description: "An order has not shipped\nwithin its SLA.",
		Team:        "logistics",
		Runbook:     "javascript:alert(1)",
		DetectedAt:  time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC),
	}
}

// note is a notification of kind about fs to t.
func note(t team.Team, kind string, fs ...events.Failure) notify.Notification {
	return notify.Notification{GroupKey: "g0123456789abcdef01234567", Kind: kind, Phase: kind + "#1", Team: t,
		Labels: map[string]string{"team": t.ID, "rule": fs[0].RuleID}, Failures: fs}
}

func TestRenderGolden(t *testing.T) {
	second := detractor()
	second.ID, second.CustomerID, second.State = "fail_02", "cus_43", "acknowledged"
	second.History = []events.FailureStep{{State: "open", By: "rule nps.detractor", At: second.DetectedAt},
		{State: "acknowledged", By: "slack:U024BE7LH", At: second.DetectedAt.Add(5 * time.Minute)}}
	escalated := note(team.Team{ID: "leads", Name: "Support leads", Email: []string{"leads@example.com"}}, notify.Escalated, detractor())
	escalated.Owner = "cx-support"
	resolved := minimal()
	resolved.State = "resolved"
	linked := notify.Naming{ConsoleURL: "https://ocx.example.com"}
	tests := []struct {
		name    string
		note    notify.Notification
		subject string
		naming  notify.Naming
	}{
		// Named and linked to the console; masked for a team that must not
		// see personal data.
		{"detractor-linked", note(support, notify.Firing, detractor()),
			"[FAILING WARNING] A customer answered the NPS survey with 0-6 (a detractor). (Customer support)", linked},
		{"detractor-masked", note(support, notify.Firing, detractor()),
			"[FAILING WARNING] A customer answered the NPS survey with 0-6 (a detractor). (Customer support)",
			notify.Naming{ConsoleURL: "https://ocx.example.com", Identity: notify.IdentityMask}},
		{"detractor", note(support, notify.Firing, detractor()),
			"[FAILING WARNING] A customer answered the NPS survey with 0-6 (a detractor). (Customer support)", notify.Naming{}},
		{"minimal", note(team.Team{ID: "logistics", Email: []string{"ops@example.com"}}, notify.Firing, minimal()),
			"[FAILING FAILURE] An order has not shipped within its SLA. (logistics)", notify.Naming{}},
		{"group", note(support, notify.Firing, detractor(), second),
			"[FAILING WARNING] 2× A customer answered the NPS survey with 0-6 (a detractor). (Customer support)", notify.Naming{}},
		{"escalated", escalated,
			"[ESCALATED WARNING] A customer answered the NPS survey with 0-6 (a detractor). (Support leads)", notify.Naming{}},
		{"resolved", note(team.Team{ID: "logistics", Email: []string{"ops@example.com"}}, notify.Resolved, resolved),
			"[RESOLVED FAILURE] An order has not shipped within its SLA. (logistics)", notify.Naming{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := RenderNamed(tt.note, tt.naming)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tt.subject {
				t.Errorf("subject %q, want %q", m.Subject, tt.subject)
			}
			golden(t, filepath.Join("testdata", tt.name+".golden.html"), m.HTML)
			golden(t, filepath.Join("testdata", tt.name+".golden.txt"), m.Text)
		})
	}
}

func TestRenderEscapesHTMLOnly(t *testing.T) {
	m, err := Render(note(support, notify.Firing, detractor()))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") {
		t.Error("customer text reaches the HTML part unescaped")
	}
	if !strings.Contains(m.HTML, "Parcel late &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; nobody answered") {
		t.Error("HTML part lacks the escaped comment")
	}
	if !strings.Contains(m.HTML, `href="https://example.com/runbooks/nps-detractor?from=ocx&amp;team=cx-support"`) {
		t.Error("HTML part lacks the runbook link")
	}
	// Plain text is shown as is, so it carries the comment verbatim.
	if !strings.Contains(m.Text, `Parcel late <script>alert("x")</script> & nobody answered`) {
		t.Error("text part lacks the verbatim comment")
	}
	bad, err := Render(note(support, notify.Firing, minimal()))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(bad.HTML, "javascript:") || strings.Contains(bad.Text, "javascript:") {
		t.Error("a javascript: runbook link was kept")
	}
}

// hostile is markup named for the field that carries it, so a test can
// tell which field came out unescaped.
func hostile(field string) string { return `<script>` + field + `</script>"'&+` }

// escaped is hostile(field) as the HTML part must carry it.
func escaped(field string) string {
	return "&lt;script&gt;" + field + "&lt;/script&gt;&#34;&#39;&amp;&#43;"
}

func TestRenderEscapesEveryField(t *testing.T) {
	f := events.Failure{
		ID:          hostile("id"),
		RuleID:      hostile("rule"),
		Description: hostile("description"),
		Severity:    hostile("severity"),
		State:       hostile("state"),
		Summary:     hostile("summary"),
		Runbook:     `https://example.com/rb?a=1&b=<script>runbook</script>"x'`,
		CustomerID:  hostile("customer-id"),
		DetectedAt:  time.Date(2025, 3, 1, 12, 0, 5, 0, time.UTC),
		History: []events.FailureStep{{State: "open", By: "rule"},
			{State: hostile("step"), By: hostile("by")}},
		Evidence: []events.Evidence{{
			Type: hostile("type"), Channel: hostile("channel"),
			Customer:   events.Customer{Email: hostile("customer") + "@example.com"},
			Attributes: map[string]any{hostile("attr-key"): hostile("attr-value")},
		}},
	}
	n := notify.Notification{GroupKey: hostile("group"), Kind: notify.Escalated, Owner: hostile("owner"), Muted: 2,
		Team:     team.Team{ID: hostile("team-id"), Name: hostile("team")},
		Labels:   map[string]string{hostile("label-key"): hostile("label-value")},
		Failures: []events.Failure{f}}
	// A console URL that tries to end the href attribute early.
	naming := notify.Naming{ConsoleURL: `https://ocx.example.com/"><script>console</script>`}
	m, err := RenderNamed(n, naming)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "</script>") {
		t.Errorf("markup survives in the HTML part:\n%s", m.HTML)
	}
	for _, field := range []string{"id", "rule", "description", "state", "summary", "step", "by", "type", "channel",
		"customer", "attr-key", "attr-value", "group", "owner", "team-id", "team", "label-key", "label-value"} {
		if !strings.Contains(m.HTML, escaped(field)) {
			t.Errorf("HTML part lacks %s escaped as %q", field, escaped(field))
		}
		// The text part is shown as is, so it carries every value verbatim.
		if !strings.Contains(m.Text, hostile(field)) {
			t.Errorf("text part lacks %s verbatim", field)
		}
	}
	if !strings.Contains(m.HTML, "<title>[ESCALATED &lt;SCRIPT&gt;SEVERITY&lt;/SCRIPT&gt;&#34;&#39;&amp;&#43;] "+escaped("description")+"</title>") {
		t.Error("HTML title lacks the escaped title")
	}
	// Links are percent-encoded (valid escapes kept), then HTML-escaped: the
	// value cannot close its attribute or open a tag.
	for _, want := range []string{
		`<a href="https://example.com/rb?a=1&amp;b=%3cscript%3erunbook%3c/script%3e%22x%27" style=`,
		`<a href="https://ocx.example.com/%22%3e%3cscript%3econsole%3c/script%3e/#/customers/%3Cscript%3Ecustomer-id%3C%2Fscript%3E%22%27&amp;&#43;">`,
		`<a href="https://ocx.example.com/%22%3e%3cscript%3econsole%3c/script%3e/#/failures/%3Cscript%3Eid%3C%2Fscript%3E%22%27&amp;&#43;"><code>`,
	} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML part lacks the link %s", want)
		}
	}
}

// A link that is not plain http(s) is never written as one, in either part.
func TestRenderDropsNonHTTPLinks(t *testing.T) {
	for _, u := range []string{"javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
		"data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "//evil.example.com/x", "https:///nohost"} {
		f := minimal()
		f.Runbook = u
		f.CustomerID = "cus_1"
		m, err := RenderNamed(note(support, notify.Firing, f), notify.Naming{ConsoleURL: u})
		if err != nil {
			t.Fatal(err)
		}
		for part, s := range map[string]string{"HTML": m.HTML, "text": m.Text} {
			if strings.Contains(s, "<a ") || strings.Contains(s, "Runbook:") || strings.Contains(s, "Customer:") ||
				strings.Contains(strings.ToLower(s), "script:") || strings.Contains(s, "data:") {
				t.Errorf("%s part keeps the link %q:\n%s", part, u, s)
			}
		}
	}
	// href itself refuses such a link, should a view ever carry one.
	var b strings.Builder
	href(&b, "javascript:alert(1)")
	if b.String() != "#ZgotmplZ" {
		t.Errorf("href(javascript:) wrote %q", b.String())
	}
}

func TestRenderSamePartsSaySameThing(t *testing.T) {
	f := detractor()
	for i := range 25 {
		f.Evidence = append(f.Evidence, events.Evidence{Type: fmt.Sprint("chat.message.", i), Channel: "intercom", OccurredAt: f.DetectedAt.Add(-3*time.Hour - time.Duration(i)*time.Minute)})
	}
	m, err := Render(note(support, notify.Firing, f))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"WARNING", "A customer answered the NPS survey", "nps.detractor", "Customer support",
		"ann@example.com", "2025-03-01 12:00:05 UTC", "rule=nps.detractor", "survey.responded", "typeform", "score: 3",
		"fail_01JNB6Q1Y8", "17 earlier events not shown"} {
		if !strings.Contains(m.HTML, want) || !strings.Contains(m.Text, want) {
			t.Errorf("%q missing from a part (html %v, text %v)", want, strings.Contains(m.HTML, want), strings.Contains(m.Text, want))
		}
	}
}

// sesSetup returns an SES client on moto with from's domain verified.
func sesSetup(t *testing.T, domain string) *sesv2.Client {
	t.Helper()
	client := sesv2.NewFromConfig(mototest.Config(t))
	if _, err := client.CreateEmailIdentity(context.Background(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(domain)}); err != nil {
		t.Fatalf("create identity %s: %v", domain, err)
	}
	return client
}

// sentMail is a message as moto records it.
type sentMail struct {
	ID           string              `json:"id"`
	Source       string              `json:"source"`
	Subject      string              `json:"subject"`
	Body         string              `json:"body"`
	Destinations map[string][]string `json:"destinations"`
}

// sentMails reads what moto has sent, from its model dump. moto's SES v2
// hands mail to its SES v1 backend, so sent mail is under "ses"/"Message";
// of a two-part mail it keeps only the HTML part.
func sentMails(t *testing.T) []sentMail {
	t.Helper()
	resp, err := http.Get(mototest.Endpoint(t) + "/moto-api/data.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var data map[string]map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&data); err != nil {
		t.Fatalf("decode moto data.json: %v", err)
	}
	var out []sentMail
	if raw, ok := data["ses"]["Message"]; ok {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("decode moto ses messages: %v", err)
		}
	}
	return out
}

func TestNotifySendsThroughSES(t *testing.T) {
	client := sesSetup(t, "alerts.example.net")
	n, err := New(client, "OCX alerts <ocx@alerts.example.net>")
	if err != nil {
		t.Fatal(err)
	}
	f := detractor()
	f.ID = "fail_ses_send"
	before := len(sentMails(t))
	if retry, err := n.Notify(context.Background(), note(support, notify.Firing, f)); err != nil {
		t.Fatalf("Notify = %v, %v", retry, err)
	}

	mails := sentMails(t)
	if len(mails) != before+1 {
		t.Fatalf("moto holds %d mails, want %d", len(mails), before+1)
	}
	got := mails[len(mails)-1]
	want, _ := Render(note(support, notify.Firing, f))
	if got.Subject != want.Subject {
		t.Errorf("subject %q, want %q", got.Subject, want.Subject)
	}
	if to := strings.Join(got.Destinations["ToAddresses"], ","); to != "cx-support@example.com,cx-lead@example.org" {
		t.Errorf("sent to %q", to)
	}
	if got.Source != "OCX alerts <ocx@alerts.example.net>" {
		t.Errorf("sent from %q", got.Source)
	}
	if got.Body != want.HTML {
		t.Errorf("body is not the rendered HTML part:\n%s", got.Body)
	}
	if !strings.Contains(got.Body, "fail_ses_send") {
		t.Error("body does not name the failure")
	}
}

func TestNotifyUnverifiedSenderIsNotRetried(t *testing.T) {
	client := sesv2.NewFromConfig(mototest.Config(t))
	n, err := New(client, "ocx@unverified.example.com")
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(context.Background(), note(support, notify.Firing, detractor()))
	if err == nil {
		t.Fatal("Notify from an unverified sender succeeded")
	}
	if retry {
		t.Errorf("retry = true for %v; a rejected sender does not recover by waiting", err)
	}
	if !strings.HasPrefix(err.Error(), "mail group g0123456789abcdef01234567 to team cx-support: ") {
		t.Errorf("error %q lacks context", err)
	}
}

func TestNotifyTeamWithoutAddressesIsANoOp(t *testing.T) {
	client := sesSetup(t, "noop.example.net")
	n, err := New(client, "ocx@noop.example.net")
	if err != nil {
		t.Fatal(err)
	}
	slackOnly := team.Team{ID: "payments", Slack: "payments"}
	if n.Serves(slackOnly) {
		t.Error("Serves a team without addresses")
	}
	before := len(sentMails(t))
	if retry, err := n.Notify(context.Background(), note(slackOnly, notify.Firing, detractor())); err != nil || retry {
		t.Fatalf("Notify = %v, %v; want a silent no-op", retry, err)
	}
	if after := len(sentMails(t)); after != before {
		t.Fatalf("a mail was sent for a team without addresses (%d -> %d)", before, after)
	}
}

func TestNewRejectsBadSender(t *testing.T) {
	if _, err := New(nil, "not an address"); err == nil {
		t.Fatal("New accepted a bad sender")
	}
}

// golden compares got with the file at path, rewriting it under -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal([]byte(got), want) {
		t.Errorf("%s differs (go test -update rewrites it)\ngot:\n%s", path, got)
	}
}
