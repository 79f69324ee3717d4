package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/apigw"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/secrets"
)

const sampleNPS = `{"type":"survey.responded","customer":{"id":"u-1001","email":"ann@example.com"},"occurred_at":"%s","attributes":{"survey":"nps","score":3}}`

// runSign prints a curl command carrying the channel's provider signature,
// so a first webhook needs no hand-computed HMAC.
func runSign(out io.Writer, args []string) error {
	flags := flag.NewFlagSet("sign", flag.ExitOnError)
	ch := flags.String("channel", "app", "channel id (from channels.yaml)")
	base := flags.String("url", "http://"+localstack.DefaultHTTPAddr, "base URL of the OCX API")
	secret := flags.String("secret", "", "signing secret (default: OCX_SECRET_<CHANNEL> for shared-secret schemes, else the local demo secret)")
	bodyFile := flags.String("body", "", "file with the body, - for stdin (default for Standard Webhooks channels: an NPS answer of 3)")
	tamper := flags.Bool("tamper", false, "change the body after signing, to see a 401")
	asEvent := flags.Bool("event", false, "print the API Gateway 2.0 event API Gateway would hand the ingest function (for `ocx invoke ingest --event`) instead of a curl command")
	_ = flags.Parse(args)

	chans, err := channel.Load(config.Open(os.Getenv).FS(), config.Channels)
	if err != nil {
		return err
	}
	var c *channel.Channel
	for i := range chans {
		if chans[i].ID == *ch {
			c = &chans[i]
		}
	}
	if c == nil {
		return fmt.Errorf("no channel %q in channels.yaml", *ch)
	}
	signer, ok := c.Kind.(channel.Signer)
	if !ok {
		return fmt.Errorf("channel %s (%s) cannot sign requests", c.ID, c.Config.Kind)
	}
	body, err := readBody(*bodyFile, c.Config.Kind)
	if err != nil {
		return err
	}
	if *secret == "" {
		demoSign, demoVerify, _ := localstack.DemoSecrets(*c)
		*secret = demoSign
		if env := secrets.Split(os.Getenv(channel.SecretEnv(c.ID))); len(env) > 0 && demoSign == demoVerify {
			*secret = env[0]
		}
	}
	contentType := "application/json"
	if t := strings.TrimSpace(body); !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "[") {
		contentType = "application/x-www-form-urlencoded"
	}
	req := channel.Request{Header: http.Header{"Content-Type": {contentType}}, Body: []byte(body), URL: strings.TrimRight(*base, "/") + "/v1/webhooks/" + c.ID}
	if err := signer.Sign(&req, *secret, time.Now()); err != nil {
		return err
	}
	if *tamper {
		body = strings.Replace(body, `"score":3`, `"score":10`, 1) + " "
	}
	if *asEvent {
		return printEvent(out, c.ID, req, body)
	}
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(out, "curl -sS -X POST %s", shellQuote(req.URL))
	for _, k := range names {
		fmt.Fprintf(out, " \\\n  -H %s", shellQuote(k+": "+req.Header.Get(k)))
	}
	fmt.Fprintf(out, " \\\n  --data-binary %s\n", shellQuote(body))
	return nil
}

func readBody(file, kind string) (string, error) {
	switch file {
	case "":
		if kind != "standardwebhooks" {
			return "", fmt.Errorf("give the %s payload with --body (see internal/channel/%s/testdata for examples)", kind, kind)
		}
		return fmt.Sprintf(sampleNPS, time.Now().UTC().Format(time.RFC3339)), nil
	case "-":
		b, err := io.ReadAll(os.Stdin)
		return string(b), err
	default:
		b, err := os.ReadFile(file)
		return string(b), err
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// printEvent writes the event API Gateway builds for the signed request.
func printEvent(out io.Writer, channelID string, req channel.Request, body string) error {
	r, err := http.NewRequest(http.MethodPost, req.URL, strings.NewReader(body))
	if err != nil {
		return err
	}
	r.Header = req.Header.Clone()
	r.Header.Set("User-Agent", "ocx-sign")
	now := time.Now()
	ev := apigw.Event(r, []byte(body), apigw.EventOptions{
		RouteKey: "POST /v1/webhooks/{channel}", PathParameters: map[string]string{"channel": channelID},
		RequestID: newRequestID(), AccountID: localstack.Account, APIID: "local", Stage: "$default",
		TimeEpochMillis: now.UnixMilli(), SourceIP: "127.0.0.1",
	})
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(ev)
}
