package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/localstack"
)

// The operator command creates, lists and expires a silence through a
// running stack's API.
func TestSilenceCommand(t *testing.T) {
	ctx := context.Background()
	st, err := localstack.Start(ctx, localstack.Config{
		HTTPAddr: "127.0.0.1:0", StateDir: t.TempDir(), APIToken: "op-token", RollupEvery: time.Hour,
		EmailFrom: localstack.DefaultFrom,
		Log:       slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	api := []string{"--api", st.URL, "--token", "op-token"}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := runSilence(ctx, &out, args)
		return out.String(), err
	}

	out, err := run(append(append([]string{"add"}, api...), "--for", "3h", "--author", "ann", "--comment", "SendGrid maintenance",
		`rule="email.bounced"`, `channel="sendgrid"`)...)
	if err != nil || !strings.Contains(out, " active until ") {
		t.Fatalf("add: %q %v", out, err)
	}
	id := strings.Fields(out)[1]

	out, err = run(append([]string{"list"}, api...)...)
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, `rule="email.bounced",channel="sendgrid"`) ||
		!strings.Contains(out, "ann") || !strings.Contains(out, "SendGrid maintenance") {
		t.Fatalf("list: %q %v", out, err)
	}

	if out, err = run(append(append([]string{"expire"}, api...), id)...); err != nil || !strings.Contains(out, id+" expired") {
		t.Fatalf("expire: %q %v", out, err)
	}
	if out, err = run(append([]string{"list"}, api...)...); err != nil || strings.Contains(out, id) {
		t.Fatalf("list after expire shows the expired silence: %q %v", out, err)
	}
	if out, err = run(append(append([]string{"list"}, api...), "--all")...); err != nil || !strings.Contains(out, id) {
		t.Fatalf("list --all: %q %v", out, err)
	}

	// Refused by the API with its reason: no matchers is not a silence.
	if _, err := run(append(append([]string{"add"}, api...), "--comment", "x")...); err == nil || !strings.Contains(err.Error(), "matcher") {
		t.Fatalf("add without matchers: %v", err)
	}
	if _, err := run(append(append([]string{"add"}, api...), "--comment", "x", `rule=~"(`)...); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("add with a bad matcher: %v", err)
	}
	if _, err := run(append(append([]string{"expire"}, api...), "sil_unknown")...); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("expire unknown: %v", err)
	}
}
