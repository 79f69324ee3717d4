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

// runReplay re-maps quarantined payloads after a mapping fix.
func runReplay(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ExitOnError)
	c := apiFlags(fs)
	id := fs.String("id", "", "the bad row to replay")
	all := fs.Bool("all", false, "replay every quarantined row (of --channel, if given)")
	ch := fs.String("channel", "", "with --all: only this channel")
	_ = fs.Parse(args)
	var ids []string
	switch {
	case *id != "":
		ids = []string{*id}
	case *all:
		rows, err := listBadRows(ctx, c, *ch, ingest.StateQuarantined)
		if err != nil {
			return err
		}
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
	default:
		return fmt.Errorf("replay needs --id ID or --all")
	}
	still := 0
	for _, bid := range ids {
		var res ingest.ReplayResult
		if err := c.do(ctx, http.MethodPost, "/v1/badrows/"+url.PathEscape(bid)+"/replay", &res); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %d events published, state %s\n", bid, len(res.Published), res.Row.State)
		if res.Row.State != ingest.StateReplayed {
			still++
		}
	}
	if still > 0 {
		return fmt.Errorf("%d of %d rows still do not map; see `ocx badrows`", still, len(ids))
	}
	return nil
}
