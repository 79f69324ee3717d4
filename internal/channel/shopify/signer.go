package shopify

import (
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

var _ channel.Signer = Scheme{}

// DemoSecrets implements channel.Signer.
func (Scheme) DemoSecrets(seed string) (string, string) {
	s := string(channel.DemoKey(seed, 32))
	return s, s
}

// Sign implements channel.Signer. It sets only the HMAC: the caller supplies
// X-Shopify-Topic, which says what the body is, and any delivery ids (without
// them ingest dedupes by a hash of the body).
func (Scheme) Sign(req *channel.Request, secret string, _ time.Time) error {
	req.Header.Set(HeaderHMAC, Sign(secret, req.Body))
	return nil
}
