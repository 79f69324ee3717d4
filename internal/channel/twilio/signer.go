package twilio

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

// DemoSecrets implements channel.Signer: an auth token is 32 hex digits.
func (Scheme) DemoSecrets(seed string) (string, string) {
	sum := sha256.Sum256(channel.DemoKey(seed, 32))
	s := hex.EncodeToString(sum[:16])
	return s, s
}

// Sign implements channel.Signer for form posts (params signed with the
// URL) and JSON bodies (the URL must carry bodySHA256).
func (Scheme) Sign(req *channel.Request, secret string, _ time.Time) error {
	if strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") {
		u, err := url.Parse(req.URL)
		if err != nil {
			return fmt.Errorf("sign twilio request: %w", err)
		}
		sum := sha256.Sum256(req.Body)
		q := u.Query()
		q.Set("bodySHA256", hex.EncodeToString(sum[:]))
		u.RawQuery = q.Encode()
		req.URL = u.String()
		req.Header.Set(HeaderSignature, Sign(secret, req.URL, nil))
		return nil
	}
	form, err := url.ParseQuery(string(req.Body))
	if err != nil {
		return fmt.Errorf("sign twilio request: body is not a form: %w", err)
	}
	req.Header.Set(HeaderSignature, Sign(secret, req.URL, form))
	return nil
}
