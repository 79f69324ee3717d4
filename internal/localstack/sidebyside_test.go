package localstack_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/localstack"
)

// Two stacks side by side (their own addresses and state directories)
// each start an emulator of their own and never see each other's data; an
// emulator address that is already taken is a clear error, not a silently
// shared emulator.
func TestStacksSideBySideKeepSeparateData(t *testing.T) {
	a := startWith(t, t.TempDir(), "", func(c *localstack.Config) { c.RollupEvery = time.Hour })
	defer a.Stop()
	b := startWith(t, t.TempDir(), "", func(c *localstack.Config) { c.RollupEvery = time.Hour })
	defer b.Stop()
	if a.Moto == b.Moto {
		t.Fatalf("both stacks use the emulator at %s", a.Moto)
	}
	body := fmt.Sprintf(`{"type":"ticket.created","customer":{"id":"u-side","email":"side@example.com"},"occurred_at":%q,"attributes":{"ticket_id":"t-1"}}`,
		testNow().UTC().Format(time.RFC3339))
	if r := send(t, a, "side-1", body, false); r.StatusCode != 202 {
		t.Fatalf("webhook to the first stack: %d", r.StatusCode)
	}
	idle(t, a)
	var v customer.View
	eventually(t, "the customer in the first stack", 15*time.Second, func() bool { return lookup(t, a, "email:side@example.com", &v) == 200 })
	idle(t, b)
	if code := lookup(t, b, "email:side@example.com", &v); code != 404 {
		t.Fatalf("the second stack answers %d for the first stack's customer, want 404", code)
	}
	if inv := b.Invocations(); len(inv) != 0 {
		t.Fatalf("the second stack's functions ran for the first stack's webhook: %v", inv)
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, err = localstack.Start(context.Background(), localstack.Config{
		HTTPAddr: "127.0.0.1:0", MotoAddr: taken.Addr().String(), StateDir: t.TempDir(), APIToken: "test-token",
		RollupEvery: time.Hour, EmailFrom: localstack.DefaultFrom, Now: testNow, Log: quietLog(),
	})
	if err == nil || !strings.Contains(err.Error(), "is taken") || !strings.Contains(err.Error(), "OCX_MOTO_ADDR") {
		t.Fatalf("start on a taken emulator address: %v, want a clear error naming OCX_MOTO_ADDR", err)
	}
}
