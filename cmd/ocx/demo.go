package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/demo"
	"github.com/ocxhq/ocx/internal/localstack"
)

// runDemo sends a month of traffic from many customers on every channel
// through the webhook endpoints of a running stack, each request signed
// the way its provider signs, with every shipped rule's failure in it.
func runDemo(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	base := fs.String("url", "http://"+localstack.DefaultHTTPAddr, "base URL of the running stack (make run)")
	customers := fs.Int("customers", 200, "customers in the story (the local emulator takes about 15 webhooks a second: 200 customers are about a minute)")
	days := fs.Int("days", 30, "days of history, ending now")
	seed := fs.Uint64("seed", 1, "random seed: the same seed sends the same story")
	workers := fs.Int("workers", 4, "requests in flight")
	_ = fs.Parse(args)

	chans, err := demoChannels()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	reqs := demo.Story(*seed, now, *days, *customers)
	if err := demo.Reachable(ctx, *base); err != nil {
		return err
	}
	fmt.Fprintf(out, "sending %d webhooks from %d customers over %d days to %s\n", len(reqs), *customers, *days, *base)

	bar := newProgress(os.Stderr)
	st := demo.Sender{Base: *base, Channels: chans, Workers: *workers, Client: &http.Client{Timeout: 30 * time.Second},
		Progress: func(done, total int64) { bar.set("webhooks", done, total) }}.Send(ctx, reqs)
	bar.done()
	fmt.Fprintf(out, "sent %d webhooks in %s (%.0f/s): %d events accepted, %d redeliveries, %d failed\n",
		st.Sent, st.Took.Round(time.Second), float64(st.Sent)/st.Took.Seconds(), st.Events, st.Redeliveries, st.Failed)
	if st.FirstError != "" {
		fmt.Fprintf(out, "first failure: %s\n", st.FirstError)
	}
	from := now.AddDate(0, 0, -*days).Format(time.DateOnly)
	fmt.Fprintf(out, `
The stack is still working through the events (journeys, rules, Slack and
email on its console); figures appear after the next rollup. Then try:

  curl -s -H 'Authorization: Bearer %[1]s' '%[2]s/v1/metrics'
  curl -s -H 'Authorization: Bearer %[1]s' '%[2]s/v1/metrics/nps?from=%[3]s&granularity=week&group_by=channel'
  curl -s -H 'Authorization: Bearer %[1]s' -H 'Accept: text/csv' '%[2]s/v1/metrics/repeat_contact_rate?from=%[3]s&tz=Europe/Paris'
  curl -s -H 'Authorization: Bearer %[1]s' '%[2]s/v1/metrics/time_in_stage?from=%[3]s&granularity=month&group_by=journey,stage'
  curl -s -H 'Authorization: Bearer %[1]s' '%[2]s/v1/failures'
`, envOr("OCX_API_TOKEN", localstack.DefaultAPIToken), strings.TrimRight(*base, "/"), from)
	if st.Failed > 0 {
		return fmt.Errorf("%d webhooks failed", st.Failed)
	}
	return nil
}

// demoChannels are the channels the stack runs with (OCX_CONFIG_DIR or
// the shipped ones) and their signing secrets.
func demoChannels() (map[string]demo.Channel, error) {
	return demo.Channels(config.Open(os.Getenv).FS(), os.Getenv)
}
