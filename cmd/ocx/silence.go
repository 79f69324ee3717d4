package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ocxhq/ocx/internal/silence"
)

const silenceUsage = `usage: ocx silence add|list|expire [flags]

  ocx silence add --for 2h --comment "SendGrid maintenance" 'rule="email.bounced"' 'channel="sendgrid"'
  ocx silence list [--all]
  ocx silence expire ID
`

// runSilence creates, lists and expires silences through the API, so the
// operator's silence is the same record the API and notify see.
func runSilence(ctx context.Context, out io.Writer, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("silence needs a subcommand\n%s", silenceUsage)
	}
	switch args[0] {
	case "add":
		return silenceAdd(ctx, out, args[1:])
	case "list":
		return silenceList(ctx, out, args[1:])
	case "expire":
		return silenceExpire(ctx, out, args[1:])
	}
	return fmt.Errorf("unknown silence subcommand %q\n%s", args[0], silenceUsage)
}

func silenceAdd(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("silence add", flag.ExitOnError)
	c := apiFlags(fs)
	dur := fs.Duration("for", 2*time.Hour, "how long the silence lasts")
	start := fs.String("start", "", "when it starts (RFC 3339); default now")
	author := fs.String("author", defaultAuthor(), "who creates it (recorded with the silence)")
	comment := fs.String("comment", "", "why (required)")
	_ = fs.Parse(args)
	req := silence.Request{Matchers: fs.Args(), Duration: dur.String(), CreatedBy: *author, Comment: *comment}
	if *start != "" {
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil {
			return fmt.Errorf("--start: %w", err)
		}
		req.StartsAt = t
	}
	if len(req.Matchers) == 0 {
		return fmt.Errorf("silence add needs at least one matcher, such as 'rule=\"email.bounced\"'\n%s", silenceUsage)
	}
	var got silenceRow
	if err := c.send(ctx, http.MethodPost, "/v1/silences", req, &got); err != nil {
		return err
	}
	fmt.Fprintf(out, "silence %s %s until %s\n", got.ID, got.State, got.EndsAt.Format(time.RFC3339))
	return nil
}

func silenceList(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("silence list", flag.ExitOnError)
	c := apiFlags(fs)
	all := fs.Bool("all", false, "include expired silences")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	_ = fs.Parse(args)
	var page struct {
		Silences []silenceRow `json:"silences"`
	}
	path := "/v1/silences?" + url.Values{"all": {fmt.Sprint(*all)}}.Encode()
	if err := c.do(ctx, http.MethodGet, path, &page); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(page)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tENDS\tBY\tMATCHERS\tCOMMENT")
	for _, s := range page.Silences {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.State, s.EndsAt.Format(time.RFC3339), s.CreatedBy, strings.Join(s.Matchers, ","), s.Comment)
	}
	return tw.Flush()
}

func silenceExpire(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("silence expire", flag.ExitOnError)
	c := apiFlags(fs)
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("silence expire needs one silence id\n%s", silenceUsage)
	}
	var got silenceRow
	if err := c.do(ctx, http.MethodDelete, "/v1/silences/"+url.PathEscape(fs.Arg(0)), &got); err != nil {
		return err
	}
	fmt.Fprintf(out, "silence %s %s\n", got.ID, got.State)
	return nil
}

// silenceRow is a silence as the API lists it.
type silenceRow struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Matchers  []string  `json:"matchers"`
	Comment   string    `json:"comment"`
}

// defaultAuthor names the operator: their login on this machine.
func defaultAuthor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}
