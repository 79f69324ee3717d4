package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/ocxhq/ocx/internal/awsclient"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/localstack"
)

// apiClient calls the OCX API as an operator: with the local bearer token,
// or signed with AWS credentials (SigV4) against the IAM-protected API.
type apiClient struct {
	base  string
	token string
	iam   bool
}

func apiFlags(fs *flag.FlagSet) *apiClient {
	c := &apiClient{}
	fs.StringVar(&c.base, "api", envOr("OCX_API_URL", "http://"+localstack.DefaultHTTPAddr), "base URL of the OCX API (OCX_API_URL)")
	fs.StringVar(&c.token, "token", envOr("OCX_API_TOKEN", localstack.DefaultAPIToken), "bearer token of the local stack (OCX_API_TOKEN)")
	fs.BoolVar(&c.iam, "iam", false, "sign requests with your AWS credentials (the deployed API)")
	return c
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (c *apiClient) do(ctx context.Context, method, path string, out any) error {
	return c.send(ctx, method, path, nil, out)
}

// send calls the API with in (if not nil) as the JSON body and decodes a
// 2xx answer into out.
func (c *apiClient) send(ctx context.Context, method, path string, in, out any) error {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode the request: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.iam {
		cfg, err := awsclient.Load(ctx, "")
		if err != nil {
			return err
		}
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return fmt.Errorf("AWS credentials: %w", err)
		}
		sum := sha256.Sum256(payload)
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", cfg.Region, time.Now()); err != nil {
			return fmt.Errorf("sign request: %w", err)
		}
	} else if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, out)
}

// runBadRows lists quarantined payloads.
func runBadRows(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("badrows", flag.ExitOnError)
	c := apiFlags(fs)
	ch := fs.String("channel", "", "only this channel")
	state := fs.String("state", ingest.StateQuarantined, "quarantined or replayed")
	_ = fs.Parse(args)
	rows, err := listBadRows(ctx, c, *ch, *state)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCHANNEL\tCREATED\tITEMS\tREASON")
	for _, r := range rows {
		reason := ""
		if len(r.Reasons) > 0 {
			reason = r.Reasons[0].Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.ID, r.Channel, r.CreatedAt.Format(time.RFC3339), len(r.Reasons), reason)
	}
	return tw.Flush()
}

func listBadRows(ctx context.Context, c *apiClient, ch, state string) ([]ingest.BadRow, error) {
	var all []ingest.BadRow
	cursor := ""
	for {
		q := url.Values{"state": {state}, "limit": {"200"}}
		if ch != "" {
			q.Set("channel", ch)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page ingest.BadRowsPage
		if err := c.do(ctx, http.MethodGet, "/v1/badrows?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		all = append(all, page.BadRows...)
		if page.Next == "" {
			return all, nil
		}
		cursor = page.Next
	}
}

// runReplay re-maps quarantined payloads after a mapping fix: one row by
// id, or every row a filter selects, first reporting what the current
// mapping would do with them, then replaying at a bounded rate.
func runReplay(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ExitOnError)
	c := apiFlags(fs)
	id := fs.String("id", "", "the bad row to replay")
	all := fs.Bool("all", false, "replay every quarantined row the filters select (no filter: all of them)")
	ch := fs.String("channel", "", "only rows of this channel")
	reason := fs.String("reason", "", "only rows with a reason containing this text")
	since := fs.String("since", "", "only rows quarantined at or after this time (RFC 3339, or a duration ago such as 24h)")
	until := fs.String("until", "", "only rows quarantined before this time (RFC 3339, or a duration ago)")
	dry := fs.Bool("dry-run", false, "only report how many rows match and how many the current mapping accepts")
	rate := fs.Float64("rate", 20, "rows replayed per second at most")
	batch := fs.Int("batch", ingest.DefaultBulkLimit, fmt.Sprintf("rows per API call (1-%d)", ingest.MaxBulkLimit))
	_ = fs.Parse(args)
	if *id != "" {
		var res ingest.ReplayResult
		if err := c.send(ctx, http.MethodPost, "/v1/badrows/"+url.PathEscape(*id)+"/replay", nil, &res); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %d events published, state %s\n", *id, len(res.Published), res.Row.State)
		if res.Row.State != ingest.StateReplayed {
			return fmt.Errorf("%s still does not map; see `ocx badrows`", *id)
		}
		return nil
	}
	if !*all && *ch == "" && *reason == "" && *since == "" && *until == "" {
		return fmt.Errorf("replay needs --id ID, or --all or a filter (--channel, --reason, --since, --until)")
	}
	if *rate <= 0 || *batch < 1 || *batch > ingest.MaxBulkLimit {
		return fmt.Errorf("--rate must be positive and --batch 1-%d", ingest.MaxBulkLimit)
	}
	q := ingest.BulkRequest{Channel: *ch, Reason: *reason, Limit: *batch}
	var err error
	now := time.Now()
	if q.Since, err = pastTime(*since, now); err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	if q.Until, err = pastTime(*until, now); err != nil {
		return fmt.Errorf("--until: %w", err)
	}
	q.DryRun = true
	plan, err := bulkReplay(ctx, c, q, 0, nil)
	if err != nil {
		return err
	}
	printPlan(out, plan)
	if *dry || plan.Matched == 0 {
		return nil
	}
	q.DryRun = false
	done, err := bulkReplay(ctx, c, q, *rate, func(r ingest.BulkReport) {
		fmt.Fprintf(out, "replayed %d of %d rows: %d accepted, %d events published\n", r.Matched, plan.Matched, r.Accepted, r.Events)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "done: %d rows replayed in full, %d still quarantined, %d events published\n", done.Accepted, done.Remaining, done.Events)
	if len(done.Failed) > 0 {
		return fmt.Errorf("%d rows could not be replayed now (first: %s: %s); run the same command again", len(done.Failed), done.Failed[0].ID, done.Failed[0].Error)
	}
	return nil
}

// bulkReplay pages through POST /v1/badrows/replay, keeping to rate rows
// a second (0: no pause), and returns the summed report.
func bulkReplay(ctx context.Context, c *apiClient, q ingest.BulkRequest, rate float64, progress func(ingest.BulkReport)) (ingest.BulkReport, error) {
	total := ingest.BulkReport{DryRun: q.DryRun}
	start := time.Now()
	for {
		var page ingest.BulkReport
		if err := c.send(ctx, http.MethodPost, "/v1/badrows/replay", q, &page); err != nil {
			return total, err
		}
		total.Add(page)
		if progress != nil && page.Matched > 0 {
			progress(total)
		}
		if page.Next == "" {
			return total, nil
		}
		q.Cursor = page.Next
		if rate > 0 {
			due := start.Add(time.Duration(float64(total.Matched) / rate * float64(time.Second)))
			select {
			case <-ctx.Done():
				return total, ctx.Err()
			case <-time.After(time.Until(due)):
			}
		}
	}
}

func printPlan(out io.Writer, p ingest.BulkReport) {
	fmt.Fprintf(out, "%d rows match; the current mapping accepts %d in full (%d events), %d would stay quarantined\n", p.Matched, p.Accepted, p.Events, p.Remaining)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROWS\tACCEPTED\tEVENTS\tREASON")
	for _, r := range p.ByReason {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\n", r.Rows, r.Accepted, r.Events, r.Reason)
	}
	_ = tw.Flush()
	for _, f := range p.Failed {
		fmt.Fprintf(out, "could not re-map %s: %s\n", f.ID, f.Error)
	}
}

// pastTime reads an RFC 3339 time or a duration before now; "" is no bound.
func pastTime(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", v)
	}
	return t, nil
}
