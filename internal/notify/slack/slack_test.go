package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/secrets"
	"github.com/ocxhq/ocx/internal/team"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The cached Secrets Manager store is what resolves webhooks in AWS.
var _ URLSource = (*secrets.Store)(nil)

// Both receivers must satisfy the notify contracts the Service relies on.
var (
	_ notify.Notifier  = (*Notifier)(nil)
	_ notify.Selective = (*Notifier)(nil)
)

var support = team.Team{ID: "cx-support", Name: "Customer support", Slack: "cx-support", Email: []string{"cx@example.com"}}

func detractor() events.Failure {
	at := time.Date(2025, 3, 1, 12, 0, 5, 0, time.UTC)
	return events.Failure{
		ID:          "fail_01JNB6Q1Y8",
		RuleID:      "nps.detractor",
		Description: "A customer answered the NPS survey with 0-6 (a detractor).",
		Severity:    "warning",
		Team:        "cx-support",
		Runbook:     "https://example.com/runbooks/nps-detractor",
		CustomerID:  "cus_42",
		Labels:      map[string]string{"category": "survey", "region": "eu"},
		DetectedAt:  at,
		Evidence: []events.Evidence{
			{
				EventID: "evt_1", Type: "survey.responded", Channel: "typeform",
				OccurredAt: at.Add(-4 * time.Second),
				Customer:   events.Customer{ID: "cus_42", Email: "ann@example.com"},
				Attributes: map[string]any{
					"survey":  "nps",
					"score":   float64(3),
					"comment": "Parcel late <again> & nobody answered <!channel>",
					"answers": map[string]any{"q1": "x"},
				},
			},
			{
				EventID: "evt_0", Type: "ticket.created", Channel: "zendesk",
				OccurredAt: at.Add(-2 * time.Hour),
				Customer:   events.Customer{ID: "cus_42"},
				Attributes: map[string]any{"priority": "high"},
			},
		},
	}
}

func minimal() events.Failure {
	return events.Failure{
		ID:          "fail_min",
		RuleID:      "order.stalled",
		Description: "An order has not shipped within its SLA.",
		Team:        "cx-support",
		Runbook:     "javascript:alert(1)",
		DetectedAt:  time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC),
	}
}

// note is a notification of kind about fs to t.
func note(t team.Team, kind string, fs ...events.Failure) notify.Notification {
	return notify.Notification{GroupKey: "g0123456789abcdef01234567", Kind: kind, Phase: kind + "#1", Team: t,
		Labels: map[string]string{"team": t.ID, "rule": fs[0].RuleID}, Failures: fs}
}

// burst is n detractors of different customers, the second acknowledged.
func burst(n int) []events.Failure {
	var fs []events.Failure
	for i := range n {
		f := detractor()
		f.ID = fmt.Sprintf("fail_%02d", i)
		f.CustomerID = fmt.Sprintf("cus_%d", 40+i)
		f.Summary = "an event matched"
		if i == 1 {
			f.State = "acknowledged"
			f.History = []events.FailureStep{{State: "open", By: "rule nps.detractor", At: f.DetectedAt},
				{State: "acknowledged", By: "slack:U024BE7LH", At: f.DetectedAt.Add(5 * time.Minute)}}
		}
		fs = append(fs, f)
	}
	return fs
}

func TestRenderGolden(t *testing.T) {
	logistics := team.Team{ID: "logistics", Slack: "logistics"}
	resolved := minimal()
	resolved.State = "resolved"
	escalated := note(team.Team{ID: "leads", Name: "Support leads", Slack: "leads"}, notify.Escalated, detractor())
	escalated.Owner = "cx-support"
	muted := note(support, notify.Firing, burst(12)...)
	muted.Muted = 3
	tests := []struct {
		name   string
		note   notify.Notification
		naming notify.Naming
	}{
		{"detractor", note(support, notify.Firing, detractor()), notify.Naming{}},
		// Named and linked to the console; masked for a team that must not
		// see personal data.
		{"detractor-linked", note(support, notify.Firing, detractor()), notify.Naming{ConsoleURL: "https://ocx.example.com"}},
		{"detractor-masked", note(support, notify.Firing, detractor()), notify.Naming{ConsoleURL: "https://ocx.example.com", Identity: notify.IdentityMask}},
		{"minimal", note(logistics, notify.Firing, minimal()), notify.Naming{}},
		{"group", muted, notify.Naming{}},
		{"resolved", note(logistics, notify.Resolved, resolved), notify.Naming{}},
		{"escalated", escalated, notify.Naming{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bytes.Buffer
			enc := json.NewEncoder(&got)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(RenderNamed(tt.note, tt.naming)); err != nil {
				t.Fatal(err)
			}
			checkPayload(t, got.Bytes())
			golden(t, filepath.Join("testdata", tt.name+".golden.json"), got.Bytes())
		})
	}
}

func TestRenderEscapesMrkdwn(t *testing.T) {
	m := Render(note(support, notify.Firing, detractor()))
	b, _ := json.Marshal(m)
	var p struct{ Text string }
	_ = json.Unmarshal(b, &p)
	ev := m.Blocks[2].Text.Text
	for _, s := range []string{ev, p.Text} {
		if strings.Contains(s, "<!channel>") || strings.Contains(s, "<again>") {
			t.Errorf("customer text reaches Slack unescaped: %q", s)
		}
	}
	if !strings.Contains(ev, "&lt;again&gt; &amp; nobody answered &lt;!channel&gt;") {
		t.Errorf("evidence = %q, want the comment escaped", ev)
	}
}

func TestRenderStaysWithinSlackLimits(t *testing.T) {
	f := detractor()
	f.Description = strings.Repeat("Very long description. ", 40)
	f.RuleID = strings.Repeat("r", 3000)
	f.Labels = map[string]string{"note": strings.Repeat("é", 2500)}
	f.Evidence = nil
	for i := range 300 {
		f.Evidence = append(f.Evidence, events.Evidence{
			EventID: fmt.Sprint("evt_", i), Type: "chat.message", Channel: "intercom",
			OccurredAt: f.DetectedAt.Add(-time.Duration(i) * time.Minute),
			Attributes: map[string]any{"body": strings.Repeat("<&>", 100), "n": float64(i)},
		})
	}
	b, err := json.Marshal(Render(note(support, notify.Firing, f)))
	if err != nil {
		t.Fatal(err)
	}
	checkPayload(t, b)
	f.RuleID = "chat.repeat"
	if ev := Render(note(support, notify.Firing, f)).Blocks[2].Text.Text; !strings.Contains(ev, "295 earlier events not shown") {
		t.Errorf("timeline does not say how many events were left out: %s", ev)
	}
}

// recorded is one request the fake webhook received.
type recorded struct {
	method, contentType string
	body                []byte
}

// webhook starts a fake Slack webhook answering with status, header and
// body, and returns its URL and what it receives.
func webhook(t *testing.T, status int, header http.Header, answer string) (string, chan recorded) {
	t.Helper()
	got := make(chan recorded, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- recorded{method: r.Method, contentType: r.Header.Get("Content-Type"), body: b}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/services/T000/B000/sekrit", got
}

// urlsFor resolves one secret name and records what was asked for.
type urlsFor struct {
	name, url string
	err       error
	asked     []string
}

func (u *urlsFor) Get(_ context.Context, name string) (string, error) {
	u.asked = append(u.asked, name)
	if u.err != nil {
		return "", u.err
	}
	if name != u.name {
		return "", secrets.ErrNotFound
	}
	return u.url, nil
}

func TestNotifyPostsToTheTeamsWebhook(t *testing.T) {
	hook, got := webhook(t, http.StatusOK, nil, "ok")
	urls := &urlsFor{name: "slack/cx-support", url: hook}
	retry, err := New(urls, nil).Notify(context.Background(), note(support, notify.Firing, detractor()))
	if err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	if len(urls.asked) != 1 || urls.asked[0] != "slack/cx-support" {
		t.Fatalf("secrets asked for %q, want slack/cx-support", urls.asked)
	}
	r := <-got
	if r.method != http.MethodPost {
		t.Errorf("method %s, want POST", r.method)
	}
	if r.contentType != "application/json" {
		t.Errorf("Content-Type %q, want application/json", r.contentType)
	}
	checkPayload(t, r.body)
}

func TestNotifyStatus(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     http.Header
		answer     string
		wantRetry  bool
		wantAfter  time.Duration // of a notify.RetryAfterError; 0 means none
		wantErrHas string
	}{
		{name: "rate limited", status: 429, header: http.Header{"Retry-After": {"3"}}, answer: "rate_limited",
			wantRetry: true, wantAfter: 3 * time.Second, wantErrHas: "429 Too Many Requests: rate_limited"},
		{name: "rate limited without Retry-After", status: 429, answer: "rate_limited", wantRetry: true,
			wantErrHas: "429"},
		{name: "server error", status: 500, answer: "rollup_error", wantRetry: true,
			wantErrHas: "500 Internal Server Error: rollup_error"},
		{name: "unavailable with Retry-After", status: 503, header: http.Header{"Retry-After": {"1"}},
			wantRetry: true, wantAfter: time.Second},
		{name: "bad payload", status: 400, answer: "invalid_blocks", wantRetry: false,
			wantErrHas: "slack rejected alert for team cx-support: 400 Bad Request: invalid_blocks"},
		{name: "webhook revoked", status: 404, answer: "no_service", wantRetry: false, wantErrHas: "no_service"},
		{name: "channel archived", status: 410, answer: "channel_is_archived", wantRetry: false,
			wantErrHas: "channel_is_archived"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hook, _ := webhook(t, tt.status, tt.header, tt.answer)
			retry, err := New(&urlsFor{name: "slack/cx-support", url: hook}, nil).Notify(context.Background(), note(support, notify.Firing, detractor()))
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			if retry != tt.wantRetry {
				t.Errorf("retry = %v, want %v (err %v)", retry, tt.wantRetry, err)
			}
			if !strings.Contains(err.Error(), tt.wantErrHas) {
				t.Errorf("error %q, want it to contain %q", err, tt.wantErrHas)
			}
			var ra *notify.RetryAfterError
			switch {
			case tt.wantAfter == 0 && errors.As(err, &ra):
				t.Errorf("unexpected Retry-After %s", ra.After)
			case tt.wantAfter != 0 && (!errors.As(err, &ra) || ra.After != tt.wantAfter):
				t.Errorf("error %v, want a RetryAfterError of %s", err, tt.wantAfter)
			}
			if strings.Contains(err.Error(), "sekrit") {
				t.Errorf("error reveals the webhook URL: %v", err)
			}
		})
	}
}

func TestNotifyWithoutAWebhook(t *testing.T) {
	tests := []struct {
		name      string
		urls      *urlsFor
		wantRetry bool
		wantErr   string
	}{
		{name: "secret missing", urls: &urlsFor{name: "slack/other"},
			wantErr: "slack webhook of team cx-support: secret not found"},
		{name: "secret not a URL", urls: &urlsFor{name: "slack/cx-support", url: "xoxb-sekrit"},
			wantErr: "slack webhook of team cx-support: secret slack/cx-support does not hold an http(s) URL"},
		{name: "webhook unreachable", urls: &urlsFor{name: "slack/cx-support", url: closedURL(t) + "/services/sekrit"},
			wantRetry: true, wantErr: "post to slack for team cx-support: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retry, err := New(tt.urls, nil).Notify(context.Background(), note(support, notify.Firing, detractor()))
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("Notify error %v, want prefix %q", err, tt.wantErr)
			}
			if retry != tt.wantRetry {
				t.Errorf("retry = %v, want %v", retry, tt.wantRetry)
			}
			if strings.Contains(err.Error(), "sekrit") {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
}

func TestNotifySkipsTeamWithoutSlack(t *testing.T) {
	urls := &urlsFor{}
	n := New(urls, nil)
	mailOnly := team.Team{ID: "finance", Email: []string{"fin@example.com"}}
	if n.Serves(mailOnly) {
		t.Error("Serves a team with no Slack webhook")
	}
	if retry, err := n.Notify(context.Background(), note(mailOnly, notify.Firing, detractor())); err != nil || retry {
		t.Fatalf("Notify = %v, %v; want a silent no-op", retry, err)
	}
	if len(urls.asked) != 0 {
		t.Fatalf("looked up secrets %q for a team without Slack", urls.asked)
	}
}

func TestStaticURL(t *testing.T) {
	hook, got := webhook(t, http.StatusOK, nil, "ok")
	if _, err := New(StaticURL(hook), nil).Notify(context.Background(), note(support, notify.Firing, minimal())); err != nil {
		t.Fatal(err)
	}
	checkPayload(t, (<-got).body)
}

// closedURL is the address of a server that no longer listens.
func closedURL(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

// checkPayload asserts body is an incoming-webhook payload Slack accepts:
// only known fields, known block types, and within Slack's limits.
func checkPayload(t *testing.T, body []byte) {
	t.Helper()
	type text struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		Emoji    *bool  `json:"emoji"`
		Verbatim *bool  `json:"verbatim"`
	}
	type block struct {
		Type     string            `json:"type"`
		BlockID  string            `json:"block_id"`
		Text     *text             `json:"text"`
		Fields   []text            `json:"fields"`
		Elements []json.RawMessage `json:"elements"`
	}
	var p struct {
		Text   string  `json:"text"`
		Blocks []block `json:"blocks"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("payload is not an incoming-webhook message: %v\n%s", err, body)
	}
	n := utf8.RuneCountInString
	if strings.TrimSpace(p.Text) == "" {
		t.Error("text fallback is empty")
	}
	if len(p.Blocks) == 0 || len(p.Blocks) > MaxBlocks {
		t.Errorf("%d blocks, want 1 to %d", len(p.Blocks), MaxBlocks)
	}

	blockIDs, actionIDs := map[string]bool{}, map[string]bool{}
	defer func() {
		if !actionIDs[ActionAck] || !actionIDs[ActionResolve] {
			t.Errorf("message lacks the Acknowledge and Resolve buttons")
		}
	}()
	for i, b := range p.Blocks {
		if b.BlockID == "" || n(b.BlockID) > 255 || blockIDs[b.BlockID] {
			t.Errorf("block %d: block_id %q missing, too long or repeated", i, b.BlockID)
		}
		blockIDs[b.BlockID] = true
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || b.Text.Text == "" || n(b.Text.Text) > MaxHeaderText {
				t.Errorf("header block %d: want plain_text of 1 to %d characters, got %+v", i, MaxHeaderText, b.Text)
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				t.Errorf("section block %d has neither text nor fields", i)
			}
			if b.Text != nil && (b.Text.Type != "mrkdwn" && b.Text.Type != "plain_text" || b.Text.Text == "" || n(b.Text.Text) > MaxSectionText) {
				t.Errorf("section block %d: text of %d characters (type %q), limit %d", i, n(b.Text.Text), b.Text.Type, MaxSectionText)
			}
			if len(b.Fields) > 10 {
				t.Errorf("section block %d: %d fields, limit 10", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if f.Text == "" || n(f.Text) > MaxFieldText {
					t.Errorf("section block %d: field of %d characters, limit %d", i, n(f.Text), MaxFieldText)
				}
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				t.Errorf("context block %d: %d elements, want 1 to 10", i, len(b.Elements))
			}
			for _, raw := range b.Elements {
				var e text
				if err := json.Unmarshal(raw, &e); err != nil || (e.Type != "mrkdwn" && e.Type != "plain_text") || e.Text == "" {
					t.Errorf("context block %d: bad element %s", i, raw)
				}
			}
		case "actions":
			if len(b.Elements) == 0 || len(b.Elements) > 25 {
				t.Errorf("actions block %d: %d elements, want 1 to 25", i, len(b.Elements))
			}
			for _, raw := range b.Elements {
				var e struct {
					Type     string `json:"type"`
					Text     text   `json:"text"`
					ActionID string `json:"action_id"`
					URL      string `json:"url"`
					Value    string `json:"value"`
					Style    string `json:"style"`
				}
				if err := json.Unmarshal(raw, &e); err != nil || e.Type != "button" {
					t.Errorf("actions block %d: element is not a button: %s", i, raw)
					continue
				}
				if e.Text.Type != "plain_text" || e.Text.Text == "" || n(e.Text.Text) > MaxButtonText {
					t.Errorf("button %q: bad text %+v", e.ActionID, e.Text)
				}
				if e.ActionID == "" || n(e.ActionID) > 255 || actionIDs[e.ActionID] {
					t.Errorf("button action_id %q missing, too long or repeated", e.ActionID)
				}
				actionIDs[e.ActionID] = true
				if n(e.Value) > MaxButtonValue || (e.Style != "" && e.Style != "primary" && e.Style != "danger") {
					t.Errorf("button %q: value of %d characters or bad style %q", e.ActionID, n(e.Value), e.Style)
				}
				if (e.ActionID == ActionAck || e.ActionID == ActionResolve) && (e.Value == "" || n(e.Value) > 200) {
					t.Errorf("button %q: value %q must name the group in at most 200 characters", e.ActionID, e.Value)
				}
				if e.URL != "" {
					if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || n(e.URL) > MaxURL {
						t.Errorf("button %q: bad url %q", e.ActionID, e.URL)
					}
				}
			}
		case "divider":
		default:
			t.Errorf("block %d: unknown type %q", i, b.Type)
		}
	}
}

// golden compares got with the file at path, rewriting it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\ngot:\n%s", path, got)
	}
}
