package slackaction

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// slackGoAccepts asks the Slack Go client's own verifier.
func slackGoAccepts(h http.Header, body []byte, secret string) bool {
	v, err := slack.NewSecretsVerifier(h, secret)
	if err != nil {
		return false
	}
	if _, err := v.Write(body); err != nil {
		return false
	}
	return v.Ensure() == nil
}

// Sign and Verify agree with github.com/slack-go/slack on random secrets
// and bodies, signed and tampered. Its verifier reads the wall clock, so
// requests are stamped now.
func TestAgreesWithSlackGo(t *testing.T) {
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	for i := range 200 {
		secret := hex.EncodeToString(random(16))
		body := random(i * 7)
		now := time.Now()
		ts := now.Unix() - int64(i%3)*100
		h := headers(Sign(secret, ts, body), strconv.FormatInt(ts, 10))
		if !slackGoAccepts(h, body, secret) {
			t.Fatalf("slack-go refuses our signature (case %d)", i)
		}
		if err := Verify(h, body, []string{secret}, now); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		tampered := append(append([]byte(nil), body...), '!')
		ours := Verify(h, tampered, []string{secret}, now) == nil
		if ours || slackGoAccepts(h, tampered, secret) {
			t.Fatalf("case %d: a tampered body passes (ours %v)", i, ours)
		}
	}
}
