// Package zendesk verifies Zendesk webhook signatures and maps Zendesk ticket
// events (webhooks subscribed to zen:event-type:ticket.*) to OCX's canonical
// ticket.* interactions, and end users' user events (user.created,
// user.identity_created, user.identity_changed) to customer.identified,
// which links the user id tickets name (requester_id) to the user's email.
//
// Signature scheme (https://developer.zendesk.com/documentation/webhooks/verifying/):
// X-Zendesk-Webhook-Signature is base64(HMAC-SHA256(timestamp + body)), keyed
// with the webhook's signing secret used as-is, where timestamp is the
// X-Zendesk-Webhook-Signature-Timestamp header verbatim (RFC 3339, e.g.
// "2021-03-25T05:09:27Z") and nothing separates it from the raw body.
// Zendesk states no tolerance; OCX allows Tolerance either way, the window
// the other timestamped schemes use, which is wider than Zendesk's retry
// timeout but rejects a replay captured minutes earlier.
//
// Delivery ids (https://developer.zendesk.com/documentation/webhooks/anatomy-of-a-webhook-request/):
// X-Zendesk-Webhook-Id names the webhook, so it is the same on every request
// and must not be used to drop redeliveries; X-Zendesk-Webhook-Invocation-Id
// names one invocation and is the delivery id. Each event also carries its
// own id, which is the draft id.
package zendesk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

// Kind is the registered kind name.
const Kind = "zendesk"

// Tolerance is how far the signed timestamp may be from now, either way.
const Tolerance = 5 * time.Minute

// Header names Zendesk sends (http.Header canonical form).
const (
	HeaderSignature    = "X-Zendesk-Webhook-Signature"
	HeaderTimestamp    = "X-Zendesk-Webhook-Signature-Timestamp"
	HeaderWebhookID    = "X-Zendesk-Webhook-Id"
	HeaderInvocationID = "X-Zendesk-Webhook-Invocation-Id"
	HeaderAccountID    = "X-Zendesk-Account-Id"
)

func init() { channel.Register(Kind, channel.Static(Scheme{})) }

// Scheme implements channel.Kind for Zendesk.
type Scheme struct{}

// Verify checks X-Zendesk-Webhook-Signature against every active secret.
func (Scheme) Verify(req channel.Request, secrets []string, now time.Time) error {
	sig, ts := req.Header.Get(HeaderSignature), req.Header.Get(HeaderTimestamp)
	if sig == "" || ts == "" {
		return fmt.Errorf("%w: need %s and %s headers", channel.ErrSignature, HeaderSignature, HeaderTimestamp)
	}
	signedAt, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not an RFC 3339 time", channel.ErrSignature, HeaderTimestamp, clip(ts))
	}
	if err := channel.CheckTimestamp(signedAt, now, Tolerance); err != nil {
		return err
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not a base64 SHA-256 digest", channel.ErrSignature, HeaderSignature)
	}
	return channel.VerifyMAC(HeaderSignature, got, secrets, func(secret string) []byte { return mac(secret, ts, req.Body) })
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the X-Zendesk-Webhook-Signature value Zendesk would send for
// body signed at timestamp ts (the header's exact text).
func Sign(secret, ts string, body []byte) string {
	return base64.StdEncoding.EncodeToString(mac(secret, ts, body))
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
