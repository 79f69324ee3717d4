// Package slack alerts a team through its Slack incoming webhook, with one
// Block Kit message per group: what broke, for whom, each customer's recent
// timeline, the runbook, and Acknowledge and Resolve buttons.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/notify"
	"github.com/ocxhq/ocx/internal/retryafter"
	"github.com/ocxhq/ocx/internal/team"
	"github.com/ocxhq/ocx/internal/topology"
)

// URLSource resolves a secret name to a webhook URL; secrets.Store is one.
type URLSource interface {
	Get(ctx context.Context, name string) (string, error)
}

// StaticURL sends every team's alerts to one webhook, as the local stack
// does with OCX_SLACK_WEBHOOK_URL.
type StaticURL string

// Get returns u whatever the name.
func (u StaticURL) Get(context.Context, string) (string, error) { return string(u), nil }

// Notifier posts alerts to the webhook held in the secret
// "slack/<team.Slack>".
type Notifier struct {
	urls   URLSource
	client *http.Client
	// Naming says how messages name customers and link the console.
	Naming notify.Naming
}

// DefaultTimeout bounds one post; Slack answers well within it when healthy.
const DefaultTimeout = 10 * time.Second

// New returns a Notifier resolving webhooks through urls. A nil client means
// one with DefaultTimeout.
func New(urls URLSource, client *http.Client) *Notifier {
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	return &Notifier{urls: urls, client: client}
}

// Name is the integration's part of the receiver name.
func (n *Notifier) Name() string { return "slack" }

// Serves reports whether t has a Slack webhook configured.
func (n *Notifier) Serves(t team.Team) bool { return t.Slack != "" }

// maxErrorBody is how much of Slack's answer an error quotes; Slack's error
// bodies are short codes such as "invalid_blocks".
const maxErrorBody = 512

// Notify posts m to its team's webhook. A team without a webhook is not
// alerted and that is not an error.
func (n *Notifier) Notify(ctx context.Context, m notify.Notification) (retry bool, err error) {
	t := m.Team
	if t.Slack == "" {
		return false, nil
	}
	secret := topology.SecretSlackPrefix + t.Slack
	webhook, err := n.urls.Get(ctx, secret)
	if err != nil {
		// The secrets client already retried transient errors; what is left
		// is a missing or unreadable secret, which waiting does not fix.
		return false, fmt.Errorf("slack webhook of team %s: %w", t.ID, err)
	}
	if u, perr := url.Parse(webhook); perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// The value is a secret: say where it came from, never what it is.
		return false, fmt.Errorf("slack webhook of team %s: secret %s does not hold an http(s) URL", t.ID, secret)
	}

	body, err := json.Marshal(RenderNamed(m, n.Naming))
	if err != nil {
		return false, fmt.Errorf("encode slack message for group %s: %w", m.GroupKey, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhook, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("slack webhook of team %s: secret %s does not hold a usable URL", t.ID, secret)
	}
	req.Header.Set("Content-Type", "application/json")

	resp, err := n.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("post to slack for team %s: %w", t.ID, ctx.Err())
		}
		// url.Error quotes the URL, and a webhook URL is a credential.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, fmt.Errorf("post to slack for team %s: %w", t.ID, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	// Drain what is left so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("slack rejected alert for team %s: %s: %s", t.ID, resp.Status, strings.TrimSpace(string(answer)))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		if d := retryafter.Of(resp.Header, time.Now()); d > 0 {
			return true, &notify.RetryAfterError{After: d, Err: err}
		}
		return true, err
	}
	return false, err
}
