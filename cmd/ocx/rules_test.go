package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesCommand(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	if err := runRules(ctx, &out, []string{"check"}); err != nil || !strings.Contains(out.String(), ": OK") {
		t.Fatalf("rules check: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := runRules(ctx, &out, []string{"test"}); err != nil || !strings.Contains(out.String(), "SUCCESS") || strings.Contains(out.String(), "FAILED") {
		t.Fatalf("rules test: %v\n%s", err, out.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(`tests:
  - name: expects what does not happen
    events:
      - {at: 0s, type: survey.responded, customer: {email: a@example.com}, attributes: {survey: nps, score: 9}}
    expect:
      - {rule: nps.detractor}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := runRules(ctx, &out, []string{"test", bad})
	if err == nil || !strings.Contains(out.String(), bad+":2: expects what does not happen: expected a failure of nps.detractor") {
		t.Fatalf("failing test: %v\n%s", err, out.String())
	}
}
