// Package shopify verifies Shopify webhook HMACs and maps order webhooks to
// OCX's canonical order.* interactions.
//
// Signature scheme (https://shopify.dev/docs/apps/build/webhooks/verify-deliveries):
// X-Shopify-Hmac-Sha256 is the base64 HMAC-SHA256 of the raw body, keyed with
// the app's client secret (or, for webhooks made in the shop admin, the
// signing secret shown there). There is no signed timestamp, so there is no
// staleness check: redeliveries are caught by X-Shopify-Webhook-Id instead.
//
// The topic comes from X-Shopify-Topic. Shopify ids are 64-bit integers that
// do not survive a float64, so every id is carried as a decimal string.
package shopify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

// Kind is the registered kind name.
const Kind = "shopify"

// Header names Shopify sends (http.Header canonical form).
const (
	HeaderHMAC        = "X-Shopify-Hmac-Sha256"
	HeaderTopic       = "X-Shopify-Topic"
	HeaderShopDomain  = "X-Shopify-Shop-Domain"
	HeaderWebhookID   = "X-Shopify-Webhook-Id"
	HeaderEventID     = "X-Shopify-Event-Id"
	HeaderTriggeredAt = "X-Shopify-Triggered-At"
)

func init() { channel.Register(Kind, channel.Static(Scheme{})) }

// Scheme implements channel.Kind for Shopify.
type Scheme struct{}

// Verify checks X-Shopify-Hmac-Sha256 against every active secret. Shopify
// signs no timestamp, so now is unused.
func (Scheme) Verify(req channel.Request, secrets []string, _ time.Time) error {
	h := req.Header.Get(HeaderHMAC)
	if h == "" {
		return fmt.Errorf("%w: no %s header", channel.ErrSignature, HeaderHMAC)
	}
	got, err := base64.StdEncoding.DecodeString(h)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not a base64 SHA-256 digest", channel.ErrSignature, HeaderHMAC)
	}
	return channel.VerifyMAC(HeaderHMAC, got, secrets, func(secret string) []byte { return mac(secret, req.Body) })
}

func mac(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the X-Shopify-Hmac-Sha256 value Shopify would send for body.
func Sign(secret string, body []byte) string {
	return base64.StdEncoding.EncodeToString(mac(secret, body))
}
