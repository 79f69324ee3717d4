package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/secrets"
)

const sampleNPS = `{"type":"survey.responded","customer":{"id":"u-1001","email":"ann@example.com"},"occurred_at":"%s","attributes":{"survey":"nps","score":3}}`

// runSign prints a curl command carrying a Standard Webhooks signature, so a
// first webhook needs no hand-computed HMAC.
func runSign(out io.Writer, args []string) error {
	fs := flag.NewFlagSet("sign", flag.ExitOnError)
	ch := fs.String("channel", "app", "channel id")
	base := fs.String("url", "http://"+localstack.DefaultHTTPAddr, "base URL of the OCX API")
	secret := fs.String("secret", "", "signing secret (default: OCX_SECRET_<CHANNEL> or the local demo secret)")
	bodyFile := fs.String("body", "", "file with the JSON body, - for stdin (default: an NPS answer of 3)")
	tamper := fs.Bool("tamper", false, "change the body after signing, to see a 401")
	_ = fs.Parse(args)

	body := fmt.Sprintf(sampleNPS, time.Now().UTC().Format(time.RFC3339))
	if *bodyFile != "" {
		var b []byte
		var err error
		if *bodyFile == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(*bodyFile)
		}
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
		body = strings.TrimSpace(string(b))
	}
	if *secret == "" {
		*secret = os.Getenv(channel.SecretEnv(*ch))
	}
	if *secret == "" {
		*secret = localstack.DemoSecret(*ch)
	}
	key, err := standardwebhooks.DecodeSecret(secrets.Split(*secret)[0])
	if err != nil {
		return err
	}
	idb := make([]byte, 12)
	_, _ = rand.Read(idb)
	id := "msg_" + hex.EncodeToString(idb)
	ts := time.Now().Unix()
	sig := standardwebhooks.Sign(key, id, ts, []byte(body))
	if *tamper {
		body = strings.Replace(body, `"score":3`, `"score":10`, 1)
	}
	fmt.Fprintf(out, "curl -sS -X POST %s/v1/webhooks/%s \\\n  -H 'content-type: application/json' \\\n  -H 'webhook-id: %s' \\\n  -H 'webhook-timestamp: %d' \\\n  -H 'webhook-signature: v1,%s' \\\n  --data-raw %s\n",
		strings.TrimRight(*base, "/"), *ch, id, ts, sig, shellQuote(body))
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
