package outbound

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	swlib "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Whatever the message id, time, body and key, the reference library
// verifies what Signature signs.
func FuzzSignatureVerifiesWithTheReferenceLibrary(f *testing.F) {
	f.Add("msg_1", int64(1781706600), []byte(`{"type":"failure.detected"}`), []byte("0123456789abcdef01234567"))
	f.Add("msg_2", int64(0), []byte{}, []byte("a key of thirty-two bytes exactly"))
	f.Fuzz(func(t *testing.T, id string, ts int64, body, key []byte) {
		if len(key) < 24 || len(key) > 64 || ts < 0 || ts > 1<<40 || id == "" {
			return
		}
		secret := EncodeSecret(key)
		at := time.Unix(ts, 0)
		sig, err := Signature([]string{secret}, id, at, body)
		if err != nil {
			t.Fatal(err)
		}
		wh, err := swlib.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(HeaderSignature, sig)
		if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
			t.Fatalf("id %q ts %d: %v", id, ts, err)
		}
	})
}
