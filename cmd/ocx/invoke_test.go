package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/runtimeapi"
)

// What is shipped is what is tested: the ingest function's own bootstrap,
// built as `make build` builds it (for this machine), run as its own
// process against a local Lambda Runtime API with the running stack's
// environment, takes API Gateway 2.0 events carrying a signed Stripe
// webhook (commas in Stripe-Signature); the body altered is refused. A
// function error comes back as the Runtime API's error payload.
//
// The bootstrap reads the machine's clock as Lambda's would, so the stack
// and the signatures do too; what the test expects does not depend on it.
func TestInvokeRunsTheBootstrap(t *testing.T) {
	ctx := context.Background()
	state := t.TempDir()
	st, err := localstack.Start(ctx, localstack.Config{
		HTTPAddr: "127.0.0.1:0", StateDir: state, APIToken: "op-token", RollupEvery: time.Hour,
		EmailFrom: localstack.DefaultFrom, Secrets: map[string]string{},
		Log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	t.Setenv("OCX_STATE_DIR", state)
	t.Setenv("OCX_HTTP_ADDR", strings.TrimPrefix(st.URL, "http://"))

	fixture := filepath.Join("..", "..", "internal", "channel", "stripe", "testdata", "payment_intent.payment_failed.json")
	event := func(tamper bool) string {
		var out bytes.Buffer
		args := []string{"--channel", "stripe", "--body", fixture, "--url", st.URL, "--event"}
		if tamper {
			args = append(args, "--tamper")
		}
		if err := runSign(&out, args); err != nil {
			t.Fatal(err)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(out.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if sig := ev.Headers["stripe-signature"]; !strings.Contains(sig, "t=") || !strings.Contains(sig, ",v1=") {
			t.Fatalf("stripe-signature %q: want t=…,v1=…", sig)
		}
		path := filepath.Join(t.TempDir(), "e.json")
		if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	invoke := func(args ...string) (events.APIGatewayV2HTTPResponse, string, error) {
		var out, logs bytes.Buffer
		err := runInvoke(ctx, &out, &logs, args)
		var resp events.APIGatewayV2HTTPResponse
		if err == nil {
			if jerr := json.Unmarshal(out.Bytes(), &resp); jerr != nil {
				t.Fatalf("stdout is not a response: %q (%v)\nlogs: %s", out.String(), jerr, logs.String())
			}
		}
		return resp, out.String(), err
	}

	// A bootstrap built once, for the invocations after the first.
	dir := t.TempDir()
	wd, _ := os.Getwd()
	mod, err := runtimeapi.ModuleDir(wd)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := runtimeapi.Build(ctx, mod, "./functions/ingest", dir)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	var out string

	// The first invocation builds the bootstrap itself, as `ocx invoke` does.
	st.Meter().Reset()
	resp, out, err = invoke("ingest", "--event", event(false))
	if err != nil || resp.StatusCode != 202 || !strings.Contains(resp.Body, "event_ids") {
		t.Fatalf("signed: %v %q", err, out)
	}
	if err := st.Settle(context.Background(), 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	if put := st.Meter().Snapshot()["eventbridge events put"]; put < 1 {
		t.Fatalf("the bootstrap's events never reached the bus: %v", st.Meter().Snapshot())
	}

	// The same event with its body altered.
	resp, out, err = invoke("ingest", "--event", event(true), "--bootstrap", bin)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("tampered: %v %q, want statusCode 401", err, out)
	}

	// An event the function cannot read is a function error: printed as
	// the error payload, reported so ocx exits non-zero.
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version":"2.0","requestContext":{"http":{"method":"POST"}},"body":"%%","isBase64Encoded":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, out, err = invoke("ingest", "--event", bad, "--bootstrap", bin)
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("undecodable body: %v %q, want statusCode 400", err, out)
	}
	notJSON := filepath.Join(t.TempDir(), "not.json")
	if err := os.WriteFile(notJSON, []byte(`not json`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, out, err = invoke("ingest", "--event", notJSON, "--bootstrap", bin)
	if !errors.Is(err, errFunction) || !strings.Contains(out, "errorType") {
		t.Fatalf("unreadable payload: %v %q, want the runtime's error payload and errFunction", err, out)
	}
}
