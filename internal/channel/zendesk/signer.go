package zendesk

import (
	"encoding/base64"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

var _ channel.Signer = Scheme{}

// DemoSecrets implements channel.Signer: base64 text, like the signing
// secrets Zendesk shows.
func (Scheme) DemoSecrets(seed string) (string, string) {
	s := base64.StdEncoding.EncodeToString(channel.DemoKey(seed, 32))
	return s, s
}

// Sign implements channel.Signer, signing the body at now.
func (Scheme) Sign(req *channel.Request, secret string, now time.Time) error {
	ts := now.UTC().Format(time.RFC3339)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(secret, ts, req.Body))
	return nil
}
