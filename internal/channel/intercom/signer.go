package intercom

import (
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

var _ channel.Signer = Scheme{}

// DemoSecrets implements channel.Signer.
func (Scheme) DemoSecrets(seed string) (string, string) {
	s := string(channel.DemoKey(seed, 36))
	return s, s
}

// Sign implements channel.Signer.
func (Scheme) Sign(req *channel.Request, secret string, _ time.Time) error {
	req.Header.Set(HeaderSignature, Sign(secret, req.Body))
	return nil
}
