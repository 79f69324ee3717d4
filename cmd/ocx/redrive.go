package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/ocxhq/ocx/internal/deadletter"
)

// runDeadLetters lists what is on every dead-letter queue.
func runDeadLetters(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("deadletters", flag.ExitOnError)
	c := apiFlags(fs)
	limit := fs.Int("limit", 20, "letters shown per queue (1-100)")
	_ = fs.Parse(args)
	var page deadletter.Page
	if err := c.do(ctx, http.MethodGet, "/v1/deadletters?limit="+fmt.Sprint(*limit), &page); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tSENT\tKIND\tWHAT\tEVENT\tERROR")
	for _, q := range page.Queues {
		for _, l := range q.Letters {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.120s\n", q.Name, l.SentAt.Format(time.RFC3339), l.Kind, l.DetailType, l.EventID, l.Error)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d letters in %d queues\n", page.Total, len(page.Queues))
	return nil
}

// runRedrive puts the bus events on the dead-letter queues back on the bus,
// a batch per call until none is left.
func runRedrive(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("redrive", flag.ExitOnError)
	c := apiFlags(fs)
	queue := fs.String("queue", "", "only this dead-letter queue (default: every one)")
	_ = fs.Parse(args)
	path := "/v1/deadletters/redrive"
	if *queue != "" {
		path += "?queue=" + url.QueryEscape(*queue)
	}
	total := 0
	var left []deadletter.Letter
	// A batch of letters that are not events (notifications) hides them for
	// a minute, so the next call reaches the events behind them.
	for range 1000 {
		var res deadletter.Result
		if err := c.do(ctx, http.MethodPost, path, &res); err != nil {
			return fmt.Errorf("after %d redriven: %w", total, err)
		}
		total += res.Redriven
		left = append(left, res.Left...)
		if res.Redriven == 0 && len(res.Left) < 100 {
			break
		}
	}
	fmt.Fprintf(out, "%d events put back on the bus\n", total)
	for _, l := range left {
		fmt.Fprintf(out, "left on %s: %s %s (%s)\n", l.Queue, l.Kind, l.DetailType, l.Error)
	}
	return nil
}
