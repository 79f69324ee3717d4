package channel

import (
	"crypto/hmac"
	"fmt"
	"time"
)

// CheckTimestamp returns an error wrapping ErrStale when signedAt, the time
// a request says it was signed, is more than tolerance before or after now.
func CheckTimestamp(signedAt, now time.Time, tolerance time.Duration) error {
	if d := now.Sub(signedAt); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %s, now %s (tolerance %s)", ErrStale,
			signedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), tolerance)
	}
	return nil
}

// VerifyMAC checks got, the MAC a request carries in header, against
// mac(secret) for each active secret, in constant time. It returns nil on a
// match and otherwise an error wrapping ErrSignature.
func VerifyMAC(header string, got []byte, secrets []string, mac func(secret string) []byte) error {
	if len(secrets) == 0 {
		return fmt.Errorf("%w: the channel has no active secret", ErrSignature)
	}
	for _, secret := range secrets {
		if hmac.Equal(got, mac(secret)) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s matches no active secret", ErrSignature, header)
}
