package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/secrets"
)

// Channel is a configured channel with the secret that signs for it.
type Channel struct {
	channel.Channel
	Secret string
}

// channelsNeeded are the channels the story sends on.
var channelsNeeded = []string{"app", "stripe", "shopify", "zendesk", "intercom", "twilio", "sendgrid", "typeform", "delighted"}

// Channels loads channels.yaml from fsys with the local stack's demo
// signing secrets; getenv's OCX_SECRET_<ID> replaces a shared secret, as
// it does for the stack.
func Channels(fsys fs.FS, getenv func(string) string) (map[string]Channel, error) {
	list, err := channel.Load(fsys, config.Channels)
	if err != nil {
		return nil, err
	}
	out := map[string]Channel{}
	for _, c := range list {
		sign, verify, ok := localstack.DemoSecrets(c)
		if !ok {
			continue
		}
		if env := secrets.Split(getenv(channel.SecretEnv(c.ID))); len(env) > 0 && sign == verify {
			sign = env[0]
		}
		out[c.ID] = Channel{Channel: c, Secret: sign}
	}
	for _, id := range channelsNeeded {
		if _, ok := out[id]; !ok {
			return nil, fmt.Errorf("the demo needs channel %q (channels.yaml) with a signing kind", id)
		}
	}
	return out, nil
}

// Sender posts a story's requests to a running stack.
type Sender struct {
	// Base is the stack's base URL.
	Base     string
	Channels map[string]Channel
	// Workers is how many requests are in flight.
	Workers int
	Client  *http.Client
	// Now is the clock requests are signed with (the stack's).
	Now func() time.Time
	// Progress hears of every request done.
	Progress func(done, total int64)
}

// Stats say what a Send did.
type Stats struct {
	Sent, Events, Redeliveries, Failed int64
	// FirstError is the first failure's message.
	FirstError string
	Took       time.Duration
}

// Send posts every request, Workers at a time, retrying what the stack
// asks to be retried; it returns once all are answered.
func (s Sender) Send(ctx context.Context, reqs []Request) Stats {
	var sent, events, dup, failed atomic.Int64
	var firstErr atomic.Value
	queue := make(chan Request)
	var wg sync.WaitGroup
	for range max(s.Workers, 1) {
		wg.Go(func() {
			for r := range queue {
				acc, err := s.deliver(ctx, r)
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				case acc.Duplicate:
					dup.Add(1)
				default:
					events.Add(int64(len(acc.EventIDs)))
				}
				done := sent.Add(1)
				if s.Progress != nil {
					s.Progress(done, int64(len(reqs)))
				}
			}
		})
	}
	start := time.Now()
	for _, r := range reqs {
		select {
		case queue <- r:
		case <-ctx.Done():
		}
	}
	close(queue)
	wg.Wait()
	st := Stats{Sent: sent.Load(), Events: events.Load(), Redeliveries: dup.Load(), Failed: failed.Load(), Took: time.Since(start)}
	if e, ok := firstErr.Load().(string); ok {
		st.FirstError = e
	}
	return st
}

// Sign returns r as its channel's provider would send it.
func (ch Channel) Sign(base string, r Request, now time.Time) (channel.Request, error) {
	signer, ok := ch.Kind.(channel.Signer)
	if !ok {
		return channel.Request{}, fmt.Errorf("channel %s cannot sign", ch.ID)
	}
	req := channel.Request{Header: http.Header{"Content-Type": {r.ContentType}}, Body: r.Body, URL: strings.TrimRight(base, "/") + "/v1/webhooks/" + ch.ID}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	if err := signer.Sign(&req, ch.Secret, now); err != nil {
		return req, fmt.Errorf("sign %s: %w", ch.ID, err)
	}
	return req, nil
}

// deliver signs and posts one request.
func (s Sender) deliver(ctx context.Context, r Request) (ingest.Accepted, error) {
	var acc ingest.Accepted
	ch, ok := s.Channels[r.Channel]
	if !ok {
		return acc, fmt.Errorf("no channel %q", r.Channel)
	}
	client, now := s.Client, s.Now
	if client == nil {
		client = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	for attempt := 0; ; attempt++ {
		req, err := ch.Sign(s.Base, r, now())
		if err != nil {
			return acc, err
		}
		hr, err := http.NewRequestWithContext(ctx, "POST", req.URL, strings.NewReader(string(r.Body)))
		if err != nil {
			return acc, err
		}
		hr.Header = req.Header
		resp, err := client.Do(hr)
		if err != nil {
			return acc, fmt.Errorf("%s: %w", ch.ID, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && attempt < 5 {
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
			continue
		}
		if resp.StatusCode >= 300 {
			return acc, fmt.Errorf("%s %s answered %s: %s", ch.ID, r.What, resp.Status, strings.TrimSpace(string(body)))
		}
		if err := json.Unmarshal(body, &acc); err != nil {
			return acc, fmt.Errorf("%s %s: answer %q: %w", ch.ID, r.What, body, err)
		}
		if acc.Duplicate {
			return acc, nil
		}
		if acc.Quarantined != r.Quarantined || acc.Ignored != r.Ignored {
			return acc, fmt.Errorf("%s %s: %d item(s) quarantined and %d ignored, want %d and %d: %s", ch.ID, r.What,
				acc.Quarantined, acc.Ignored, r.Quarantined, r.Ignored, strings.TrimSpace(string(body)))
		}
		return acc, nil
	}
}

// Reachable checks that a stack answers at base.
func Reachable(ctx context.Context, base string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(base, "/")+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no stack at %s (start it with make run): %w", base, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/healthz answered %s", base, resp.Status)
	}
	return nil
}
