// Package intercom verifies Intercom webhook notifications and maps
// conversation topics to OCX's canonical conversation.* interactions, and
// conversation ratings to survey.responded (CSAT).
//
// Signature scheme (https://developers.intercom.com/docs/references/webhooks/webhook-models,
// "Signed notifications"): X-Hub-Signature is "sha1=" followed by the hex
// HMAC-SHA1 of the raw body, keyed with the app's client secret. Intercom
// signs no timestamp, so there is no staleness check; redeliveries carry the
// same notification id and are dropped by it.
package intercom

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

// Kind is the registered kind name.
const Kind = "intercom"

// HeaderSignature carries "sha1=<hex>".
const HeaderSignature = "X-Hub-Signature"

func init() { channel.Register(Kind, channel.Static(Scheme{})) }

// Scheme implements channel.Kind for Intercom.
type Scheme struct{}

// Verify checks X-Hub-Signature against every active secret. Intercom signs
// no timestamp, so now is unused.
func (Scheme) Verify(req channel.Request, secrets []string, _ time.Time) error {
	h := req.Header.Get(HeaderSignature)
	if h == "" {
		return fmt.Errorf("%w: no %s header", channel.ErrSignature, HeaderSignature)
	}
	algo, digest, _ := strings.Cut(h, "=")
	if algo != "sha1" {
		return fmt.Errorf("%w: %s must start with sha1=", channel.ErrSignature, HeaderSignature)
	}
	got, err := hex.DecodeString(digest)
	if err != nil || len(got) != sha1.Size {
		return fmt.Errorf("%w: %s is not a hex SHA-1 digest", channel.ErrSignature, HeaderSignature)
	}
	return channel.VerifyMAC(HeaderSignature, got, secrets, func(secret string) []byte { return mac(secret, req.Body) })
}

func mac(secret string, body []byte) []byte {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the X-Hub-Signature value Intercom would send for body.
func Sign(secret string, body []byte) string {
	return "sha1=" + hex.EncodeToString(mac(secret, body))
}
