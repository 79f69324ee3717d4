package slackaction

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Slack's worked example in "Verifying requests from Slack".
const (
	docSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	docTimestamp = 1531420618
	docSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	docBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)

func headers(sig, ts string) http.Header {
	h := http.Header{}
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	if ts != "" {
		h.Set(HeaderTimestamp, ts)
	}
	return h
}

func TestSignMatchesSlackExample(t *testing.T) {
	if got := Sign(docSecret, docTimestamp, []byte(docBody)); got != docSignature {
		t.Fatalf("Sign = %s, want %s", got, docSignature)
	}
}

func TestVerify(t *testing.T) {
	signedAt := time.Unix(docTimestamp, 0)
	ts := "1531420618"
	other := "0000000000000000aaaaaaaaaaaaaaaa"
	flipped := docSignature[:len(docSignature)-1] + "4"
	for _, c := range []struct {
		name    string
		h       http.Header
		body    string
		secrets []string
		now     time.Time
		want    error
	}{
		{"Slack's example", headers(docSignature, ts), docBody, []string{docSecret}, signedAt, nil},
		{"4m59s later", headers(docSignature, ts), docBody, []string{docSecret}, signedAt.Add(Tolerance - time.Second), nil},
		{"clock 4m59s behind", headers(docSignature, ts), docBody, []string{docSecret}, signedAt.Add(-Tolerance + time.Second), nil},
		{"rotation: old secret still active", headers(docSignature, ts), docBody, []string{other, docSecret}, signedAt, nil},
		{"rotation: new secret first", headers(docSignature, ts), docBody, []string{docSecret, other}, signedAt, nil},
		{"upper-case hex", headers("v0="+strings.ToUpper(docSignature[3:]), ts), docBody, []string{docSecret}, signedAt, nil},
		{"tampered body", headers(docSignature, ts), strings.Replace(docBody, "roadrunner", "coyote", 1), []string{docSecret}, signedAt, ErrMismatch},
		{"body with a trailing newline", headers(docSignature, ts), docBody + "\n", []string{docSecret}, signedAt, ErrMismatch},
		{"tampered timestamp", headers(docSignature, "1531420619"), docBody, []string{docSecret}, signedAt, ErrMismatch},
		{"tampered signature", headers(flipped, ts), docBody, []string{docSecret}, signedAt, ErrMismatch},
		{"wrong secret", headers(docSignature, ts), docBody, []string{other}, signedAt, ErrMismatch},
		{"empty secret in the list", headers(docSignature, ts), docBody, []string{""}, signedAt, ErrMismatch},
		{"no secrets", headers(docSignature, ts), docBody, nil, signedAt, ErrNoSecret},
		{"stale: 5m01s later", headers(docSignature, ts), docBody, []string{docSecret}, signedAt.Add(Tolerance + time.Second), ErrStale},
		{"from the future: 5m01s ahead", headers(docSignature, ts), docBody, []string{docSecret}, signedAt.Add(-Tolerance - time.Second), ErrStale},
		{"no signature", headers("", ts), docBody, []string{docSecret}, signedAt, ErrUnsigned},
		{"no timestamp", headers(docSignature, ""), docBody, []string{docSecret}, signedAt, ErrUnsigned},
		{"timestamp not a number", headers(docSignature, "yesterday"), docBody, []string{docSecret}, signedAt, ErrUnsigned},
		{"other version", headers("v1="+docSignature[3:], ts), docBody, []string{docSecret}, signedAt, ErrUnsigned},
		{"signature not hex", headers("v0=zz"+docSignature[5:], ts), docBody, []string{docSecret}, signedAt, ErrUnsigned},
		{"signature truncated", headers(docSignature[:40], ts), docBody, []string{docSecret}, signedAt, ErrUnsigned},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.h, []byte(c.body), c.secrets, c.now)
			if c.want == nil && err != nil {
				t.Fatalf("Verify: %v, want success", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify: %v, want %v", err, c.want)
			}
		})
	}
}
