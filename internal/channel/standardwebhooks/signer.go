package standardwebhooks

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

// DemoSecrets implements channel.Signer.
func (Scheme) DemoSecrets(seed string) (string, string) {
	s := EncodeSecret(channel.DemoKey(seed, 24))
	return s, s
}

// Sign implements channel.Signer, giving the request a fresh webhook-id
// unless it has one.
func (Scheme) Sign(req *channel.Request, secret string, now time.Time) error {
	key, err := DecodeSecret(secret)
	if err != nil {
		return err
	}
	id := req.Header.Get(HeaderID)
	if id == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		id = "msg_" + hex.EncodeToString(b)
		req.Header.Set(HeaderID, id)
	}
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, "v1,"+Sign(key, id, now.Unix(), req.Body))
	return nil
}
