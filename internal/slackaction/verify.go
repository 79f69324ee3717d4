// Package slackaction serves Slack's interactivity requests: a person
// pressing Acknowledge or Resolve on an OCX alert in Slack. It verifies the
// request as Slack signs it, moves every failure of the alert's group through
// its lifecycle in that person's name, and rewrites the message so the
// channel sees who took it and when.
package slackaction

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers Slack signs its requests with.
const (
	HeaderSignature = "X-Slack-Signature"
	HeaderTimestamp = "X-Slack-Request-Timestamp"
	// HeaderRetryNum is set on a redelivery; handling is idempotent, so it
	// is only logged.
	HeaderRetryNum = "X-Slack-Retry-Num"
)

// Tolerance is how far a request's timestamp may be from now, as Slack
// recommends, so a captured request cannot be replayed later.
const Tolerance = 5 * time.Minute

// version is the only signature version Slack issues.
const version = "v0"

var (
	// ErrUnsigned is returned when the signature or timestamp header is missing or malformed.
	ErrUnsigned = errors.New("missing or malformed Slack signature headers")
	// ErrStale is returned when the timestamp is outside Tolerance.
	ErrStale = errors.New("request timestamp is more than 5 minutes from now")
	// ErrMismatch is returned when no active signing secret produces the signature.
	ErrMismatch = errors.New("signature does not match any active signing secret")
	// ErrNoSecret is returned when no signing secret is configured.
	ErrNoSecret = errors.New("no Slack signing secret configured")
)

// Sign returns the X-Slack-Signature value for body sent at ts:
// "v0=" + hex HMAC-SHA256 of "v0:<ts>:<body>" keyed with the signing secret.
func Sign(secret string, ts int64, body []byte) string {
	return version + "=" + hex.EncodeToString(mac(secret, strconv.FormatInt(ts, 10), body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(version + ":" + ts + ":"))
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks that the request with header h and raw body was signed at
// most Tolerance from now by one of secrets. Several secrets are accepted so
// a rotated secret can be put in before Slack switches to it.
func Verify(h http.Header, body []byte, secrets []string, now time.Time) error {
	if len(secrets) == 0 {
		return ErrNoSecret
	}
	ts := strings.TrimSpace(h.Get(HeaderTimestamp))
	sent, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not a Unix time", ErrUnsigned, HeaderTimestamp, ts)
	}
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(h.Get(HeaderSignature)), version+"=")
	if !ok {
		return fmt.Errorf("%w: %s lacks the %s= prefix", ErrUnsigned, HeaderSignature, version)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not a hex SHA-256 digest", ErrUnsigned, HeaderSignature)
	}
	if d := now.Sub(time.Unix(sent, 0)); d > Tolerance || d < -Tolerance {
		return fmt.Errorf("%w (signed %s, now %s)", ErrStale, time.Unix(sent, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	for _, s := range secrets {
		// hmac.Equal compares in constant time.
		if s != "" && hmac.Equal(got, mac(s, ts, body)) {
			return nil
		}
	}
	return ErrMismatch
}
