package delighted

import (
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

// DemoSecrets implements channel.Signer.
func (Scheme) DemoSecrets(seed string) (string, string) {
	s := string(channel.DemoKey(seed, 32))
	return s, s
}

// Sign implements channel.Signer.
func (Scheme) Sign(req *channel.Request, secret string, _ time.Time) error {
	req.Header.Set(HeaderSignature, Sign(secret, req.Body))
	return nil
}
