package localstack_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/awsclient"
	"github.com/ocxhq/ocx/internal/dynamo/notifystore"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/topology"
)

// runningStack starts a stack whose clock runs with real time (from the
// test clock) plus an offset the benchmark may move, posting to a new
// hook, with routes.yaml replaced by routes.
func runningStack(b *testing.B, routes string) (*localstack.Stack, *hook, *atomic.Int64, string) {
	b.Helper()
	h := &hook{}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	dir := b.TempDir()
	if err := os.CopyFS(dir, config.Shipped); err != nil {
		b.Fatal(err)
	}
	writeFile(b, dir, "routes.yaml", routes)
	offset := &atomic.Int64{}
	st, err := localstack.Start(context.Background(), localstack.Config{
		HTTPAddr: "127.0.0.1:0", StateDir: b.TempDir(), SlackURL: srv.URL, APIToken: "test-token",
		RollupEvery: time.Hour, EmailFrom: localstack.DefaultFrom, Secrets: map[string]string{"app": secret},
		ConfigDir: dir, Log: quietLog(),
		Now: func() time.Time { return testNow().Add(time.Duration(offset.Load())) },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Stop)
	return st, h, offset, dir
}

// percentiles reports p50, p95 and p99 of took in milliseconds.
func percentiles(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	at := func(p int) float64 {
		i := max((len(took)*p+99)/100-1, 0)
		return float64(took[i].Microseconds()) / 1000
	}
	b.ReportMetric(at(50), "p50-ms")
	b.ReportMetric(at(95), "p95-ms")
	b.ReportMetric(at(99), "p99-ms")
}

// waitPosts waits for the hook to hold n posts.
func waitPosts(b *testing.B, h *hook, n int) hookPost {
	b.Helper()
	for start := time.Now(); len(h.accepted()) < n; time.Sleep(time.Millisecond) {
		if time.Since(start) > time.Minute {
			b.Fatalf("post %d never arrived", n)
		}
	}
	return h.accepted()[n-1]
}

// BenchmarkAcceptedToSlackAtOnce measures, for a route with group_wait 0s,
// the time from a signed webhook's 202 to its Slack post arriving at a
// server answering as Slack's incoming webhook does: journey and rules on
// the bus, notify and the post, on the running local stack (moto behind
// it). The stack's clock runs with real time; it is moved past
// group_interval between webhooks so each failure is sent at once.
func BenchmarkAcceptedToSlackAtOnce(b *testing.B) {
	st, h, offset, _ := runningStack(b, "route:\n  group_by: [team, rule]\n  group_wait: 0s\n  group_interval: 1m\n  repeat_interval: 4h\n")
	now := func() time.Time { return testNow().Add(time.Duration(offset.Load())) }
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		offset.Add(int64(2 * time.Minute))
		detractorAt(b, st, fmt.Sprint("msg_now_", i), fmt.Sprint("now-", i), now())
		accepted := testNow()
		p := waitPosts(b, h, i+1)
		took = append(took, p.at.Sub(accepted))
	}
	b.StopTimer()
	percentiles(b, took)
}

// BenchmarkGroupDueToSlack measures, for a route with group_wait 30s, how
// long after its due instant a new group's Slack post arrives: the
// wake-up's rounding to whole seconds, the event source's look at the
// clock, the flush and the post. Each group forms from a failure event;
// its due instant is read from the store; the clock then jumps to 2 s
// before it (nothing happens in the 28 s skipped) and runs with real time.
func BenchmarkGroupDueToSlack(b *testing.B) {
	st, h, offset, dir := runningStack(b, "route:\n  group_by: [team, rule]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\n")
	ctx := context.Background()
	cfg, err := awsclient.Load(ctx, st.Moto)
	if err != nil {
		b.Fatal(err)
	}
	groups := notifystore.NewNotifyGroups(dynamodb.NewFromConfig(cfg), localstack.Resources(localstack.Stage).Tables[topology.TableFailures])
	now := func() time.Time { return testNow().Add(time.Duration(offset.Load())) }
	var late []time.Duration
	b.ResetTimer()
	for i := range b.N {
		f := failureOf(fmt.Sprint("flr_due", i), fmt.Sprint("bench.due", i), "cx-support", "warning", "app", fmt.Sprint("c-due", i), now())
		publish(b, st, events.TypeFailureDetected, f)
		g, found, err := groups.Group(ctx, groupKey(b, os.DirFS(dir), f))
		if err != nil || !found || g.Due.IsZero() {
			b.Fatalf("group of %s: %+v found %v: %v", f.ID, g, found, err)
		}
		offset.Add(int64(g.Due.Add(-2 * time.Second).Sub(now())))
		p := waitPosts(b, h, i+1)
		late = append(late, p.at.Add(time.Duration(offset.Load())).Sub(g.Due))
	}
	b.StopTimer()
	percentiles(b, late)
}
