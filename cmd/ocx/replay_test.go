package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/testclock"
)

// `ocx replay` with a filter reports what a replay would do, then pages
// through the replay; in-house events the app got wrong stay quarantined.
func TestReplayCommandByFilter(t *testing.T) {
	ctx := context.Background()
	secret := standardwebhooks.EncodeSecret([]byte("replay command test key 0001"))
	now := testclock.MustFromEnv().Now()
	st, err := localstack.Start(ctx, localstack.Config{
		HTTPAddr: "127.0.0.1:0", StateDir: t.TempDir(), APIToken: "op-token", RollupEvery: time.Hour,
		EmailFrom: localstack.DefaultFrom, Secrets: map[string]string{"app": secret},
		Now: func() time.Time { return now },
		Log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	key, _ := standardwebhooks.DecodeSecret(secret)
	for i := range 7 {
		id := fmt.Sprintf("msg_bad_%d", i)
		body := fmt.Sprintf(`{"type":"order.created","occurred_at":"2026-06-17T14:0%d:00Z"}`, i) // names no customer
		req, _ := http.NewRequest("POST", st.URL+"/v1/webhooks/app", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		req.Header.Set("webhook-signature", "v1,"+standardwebhooks.Sign(key, id, now.Unix(), []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("an event naming no customer: %d, want 400 with a kept copy", resp.StatusCode)
		}
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := runReplay(ctx, &out, append([]string{"--api", st.URL, "--token", "op-token", "--batch", "3"}, args...))
		return out.String(), err
	}
	// Relative times are the operator's wall clock; the stack runs on the
	// test's, so the window is given as instants.
	since, until := now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Minute).Format(time.RFC3339)
	out, err := run("--channel", "app", "--since", since, "--until", until, "--dry-run")
	if err != nil || !strings.Contains(out, "7 rows match; the current mapping accepts 0 in full (0 events), 7 would stay quarantined") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if out, err := run("--channel", "app", "--until", since, "--dry-run"); err != nil || !strings.Contains(out, "0 rows match") {
		t.Fatalf("a window before the rows: %v\n%s", err, out)
	}
	if out, err := run("--channel", "stripe", "--dry-run"); err != nil || !strings.Contains(out, "0 rows match") {
		t.Fatalf("another channel: %v\n%s", err, out)
	}
	out, err = run("--channel", "app", "--rate", "1000")
	if err != nil || !strings.Contains(out, "replayed 7 of 7 rows") || !strings.Contains(out, "done: 0 rows replayed in full, 7 still quarantined, 0 events published") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "needs --id") {
		t.Fatalf("no selection: %v", err)
	}
	if _, err := run("--all", "--since", "yesterday"); err == nil {
		t.Fatal("a malformed --since was accepted")
	}
}
