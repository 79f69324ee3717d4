package localstack_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
)

// BenchmarkBurstNotifications publishes a burst of 1,000 failures of one
// rule for one team and reports how many notifications (Slack posts and
// emails) they become once group_wait has passed.
func BenchmarkBurstNotifications(b *testing.B) {
	for range b.N {
		st, h, offset, now := notifyStack(b, nil)
		t0 := now()
		for i := range 1000 {
			publish(b, st, events.TypeFailureDetected,
				failureOf(fmt.Sprintf("flr_b%04d", i), "nps.detractor", "cx-support", "warning", "app", fmt.Sprint("c-", i), t0))
		}
		offset.Store(int64(time.Minute))
		flushNotifications(b, st)
		slackPosts, mails := len(h.accepted()), mailsTo(b, st, "cx-support@example.com")
		if slackPosts == 0 || mails == 0 {
			b.Fatalf("the burst sent %d Slack posts and %d mails", slackPosts, mails)
		}
		b.ReportMetric(float64(slackPosts+mails), "notifications/1000-failures")
		st.Stop()
	}
}

// BenchmarkWebhookToSlack measures, with group_wait 0, the time from a
// signed webhook arriving to its failure's Slack post: ingest, journey,
// rules, notify and the post, on the local stack (moto behind it). The
// clock moves past group_interval between webhooks so each one's failure
// is sent at once.
func BenchmarkWebhookToSlack(b *testing.B) {
	st, h, offset, now := notifyStack(b, func(dir string) {
		writeFile(b, dir, "routes.yaml", "route:\n  group_by: [team, rule]\n  group_wait: 0s\n  group_interval: 1m\n  repeat_interval: 4h\n")
	})
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		offset.Add(int64(2 * time.Minute))
		start := time.Now()
		detractorAt(b, st, fmt.Sprint("msg_lat_", i), fmt.Sprint("lat-", i), now())
		for len(h.accepted()) < i+1 {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("webhook %d: no Slack post after 30 s", i)
			}
			time.Sleep(time.Millisecond)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(took[(len(took)*95+99)/100-1].Milliseconds()), "p95-ms")
}
