package localstack_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/testclock"
)

// testClock is the run's "now": OCX_TEST_NOW, or testclock.Default,
// advancing with real time. Every stack these tests start runs on it (or
// on an offset from it), and every signature and event time is taken from
// it, so no expectation depends on the wall clock.
var testClock = testclock.MustFromEnv()

func testNow() time.Time { return testClock.Now() }

// clockSensitive are the end-to-end tests whose figures hang on calendar
// edges: hour, day, week and month buckets in several time zones, quiet
// hours, SLA deadlines. TestCostPerInteraction is not among them: what a
// rollup reads follows how many calendar buckets an hour falls in across
// the zones (more at a year's end), so docs/cost.md is counted at
// testclock.Default, where every run pins it.
const clockSensitive = "^(TestMetricsEndToEnd|TestWebhookToSlackEmailAndMetric|TestOneCustomerAcrossChannelsAndUnmerge)$"

// The clock-sensitive tests pass at every edge of testclock.Instants:
// month and year end, both DST changes of New York and Paris, either side
// of midnight UTC. Each instant runs this test binary again with
// OCX_TEST_NOW set.
func TestClockSensitiveAtEdgeInstants(t *testing.T) {
	for _, at := range testclock.Instants {
		t.Run(at, func(t *testing.T) {
			// A child that hangs is stopped with its goroutines dumped
			// (SIGQUIT), so the run says where instead of timing out whole.
			ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", clockSensitive, "-test.count", "1")
			cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
			cmd.WaitDelay = 10 * time.Second
			cmd.Env = append(os.Environ(), testclock.Env+"="+at)
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("at %s: no answer within %s; the child's goroutines:\n%s", at, childTimeout, testLines(out))
			}
			if err != nil {
				t.Fatalf("at %s: %v\n%s", at, err, testLines(out))
			}
			if !strings.Contains(string(out), "PASS") {
				t.Fatalf("at %s: no PASS in\n%s", at, testLines(out))
			}
		})
	}
}

// childTimeout bounds one instant's run, which takes about 15 s alone.
const childTimeout = 4 * time.Minute

// testLines keeps the test framework's lines of a child run's output, not
// the stack's JSON logs.
func testLines(out []byte) string {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(l, "{") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
