package stripe

import (
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

var _ channel.Signer = Scheme{}

// DemoSecrets implements channel.Signer: a "whsec_" endpoint secret.
func (Scheme) DemoSecrets(seed string) (string, string) {
	s := "whsec_" + string(channel.DemoKey(seed, 32))
	return s, s
}

// Sign implements channel.Signer, signing the body at now.
func (Scheme) Sign(req *channel.Request, secret string, now time.Time) error {
	req.Header.Set(HeaderSignature, Sign(secret, now.Unix(), req.Body))
	return nil
}
