// Package stripe verifies Stripe webhook signatures and maps Stripe payment
// events to OCX's canonical payment.* interactions.
//
// Signature scheme (https://docs.stripe.com/webhooks#verify-manually): the
// Stripe-Signature header is "t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]";
// each v1 value is the hex HMAC-SHA256, keyed with the endpoint's signing
// secret ("whsec_..." used as-is, not decoded), of "<t>.<raw body>". Stripe
// sends several v1 values while an endpoint secret is being rolled; any one
// matching any active secret is enough. The timestamp must be within
// Tolerance of now (Stripe's libraries default to 300 s).
//
// A failed invoice payment can reach an endpoint as invoice.payment_failed,
// payment_intent.payment_failed and charge.failed at once; each becomes its
// own payment.failed (told apart by attributes.provider_event), so subscribe
// a channel to the family a failure rule should count.
package stripe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
)

// Kind is the registered kind name.
const Kind = "stripe"

// Tolerance is how far the signed timestamp may be from now, either way.
const Tolerance = 300 * time.Second

// HeaderSignature carries the timestamp and signatures.
const HeaderSignature = "Stripe-Signature"

func init() { channel.Register(Kind, channel.Static(Scheme{})) }

// Scheme implements channel.Kind for Stripe.
type Scheme struct{}

// Verify checks Stripe-Signature against every active secret.
func (Scheme) Verify(req channel.Request, secrets []string, now time.Time) error {
	h := req.Header.Get(HeaderSignature)
	if h == "" {
		return fmt.Errorf("%w: no %s header", channel.ErrSignature, HeaderSignature)
	}
	ts, sigs, err := parseHeader(h)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", channel.ErrSignature, HeaderSignature, err)
	}
	if err := channel.CheckTimestamp(time.Unix(ts, 0), now, Tolerance); err != nil {
		return err
	}
	if len(secrets) == 0 {
		return fmt.Errorf("%w: the channel has no active secret", channel.ErrSignature)
	}
	for _, secret := range secrets {
		want := mac(secret, ts, req.Body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: none of %d v1 signatures matches an active secret", channel.ErrSignature, len(sigs))
}

// parseHeader reads "t=...,v1=...,v1=..."; unknown schemes (v0) are skipped,
// as are v1 values that are not hex (Stripe's libraries do the same).
func parseHeader(h string) (int64, [][]byte, error) {
	var ts int64
	var haveTS bool
	var sigs [][]byte
	for part := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return 0, nil, fmt.Errorf("element %q is not key=value", clip(part))
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, nil, fmt.Errorf("t=%q is not unix seconds", clip(v))
			}
			ts, haveTS = n, true
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	switch {
	case !haveTS:
		return 0, nil, fmt.Errorf("no t= timestamp")
	case len(sigs) == 0:
		return 0, nil, fmt.Errorf("no v1= signature")
	}
	return ts, sigs, nil
}

func mac(secret string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	var buf [20]byte
	m.Write(strconv.AppendInt(buf[:0], ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns a Stripe-Signature header value for body, as Stripe would send
// it (useful for tests and local tooling).
func Sign(secret string, ts int64, body []byte) string {
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// clip keeps error messages short when a header is garbage.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
