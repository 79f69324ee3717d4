package outbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers (https://www.standardwebhooks.com).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

const secretPrefix = "whsec_"

// Signature is the webhook-signature header for body sent as message id
// at ts: one "v1,<base64 HMAC-SHA256 of id.ts.body>" per secret, space
// separated, so a receiver holding either secret of a rotation verifies.
func Signature(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("sign %s: no secret", id)
	}
	sigs := make([]string, 0, len(secrets))
	for i, s := range secrets {
		key, err := DecodeSecret(s)
		if err != nil {
			return "", fmt.Errorf("sign %s with secret %d: %w", id, i+1, err)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

// DecodeSecret reads a whsec_ secret: the prefix, then base64 of the key.
func DecodeSecret(s string) ([]byte, error) {
	raw, ok := strings.CutPrefix(strings.TrimSpace(s), secretPrefix)
	if !ok {
		return nil, fmt.Errorf("secret: want the %s prefix", secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("secret: base64 after %s: %w", secretPrefix, err)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("secret: key of %d bytes, want 24 to 64", len(key))
	}
	return key, nil
}

// EncodeSecret writes key as a whsec_ secret.
func EncodeSecret(key []byte) string { return secretPrefix + base64.StdEncoding.EncodeToString(key) }
