package localstack_test

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/awsclient"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/dispatch"
	"github.com/ocxhq/ocx/internal/labels"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/team"
	"github.com/ocxhq/ocx/internal/topology"
	"github.com/ocxhq/ocx/internal/wakeup"
)

// groupKey is the key of the group the routes in fsys put f in first.
func groupKey(t testing.TB, fsys fs.FS, f events.Failure) string {
	t.Helper()
	teams, err := team.Load(fsys, "teams.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tm := range teams.All() {
		ids = append(ids, tm.ID)
	}
	routes, err := dispatch.Load(fsys, dispatch.File, ids)
	if err != nil {
		t.Fatal(err)
	}
	targets := routes.Targets(labels.Of(f), f.Team)
	if len(targets) == 0 {
		t.Fatalf("no route takes failure %s", f.ID)
	}
	return targets[0].Key
}

// injectWakeup sends a wake-up to a function's wake-up queue as the
// function itself would, visible at once: what a redelivery, a duplicate
// or a stray early message looks like to the function.
func injectWakeup(t testing.TB, st *localstack.Stack, fn, key string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	cfg, err := awsclient.Load(ctx, st.Moto)
	if err != nil {
		t.Fatal(err)
	}
	client := sqs.NewFromConfig(cfg)
	url, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("ocx-" + localstack.Stage + "-" + topology.WakeupQueueName(fn))})
	if err != nil {
		t.Fatal(err)
	}
	body, err := wakeup.Encode(wakeup.Wakeup{Key: key, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
}

// A group is sent by its wake-up the moment its group_wait is over, with
// no scheduled flush; wake-ups that arrive before the group is due, for
// an instant still ahead, or many times over once it is due, send it once
// — one Slack post, one mail — and a sweep afterwards adds nothing.
func TestWakeupsDuplicatedOrEarlySendOnce(t *testing.T) {
	st, h, offset, now := notifyStack(t, nil)
	ctx := context.Background()
	t0 := now()
	f := failureOf("flr_wake1", "nps.detractor", "cx-support", "warning", "app", "c-wake", t0)
	publish(t, st, events.TypeFailureDetected, f)
	key := groupKey(t, config.Shipped, f)
	due := t0.Add(dispatch.DefaultGroupWait)

	// Early: stale wake-ups for the group (the instant has passed, the
	// group is not due) and one for an instant still ahead.
	injectWakeup(t, st, topology.Notify, key, t0)
	injectWakeup(t, st, topology.Notify, key, t0.Add(-time.Minute))
	injectWakeup(t, st, topology.Notify, key, t0.Add(10*time.Second))
	deliverWakeups(ctx, t, st)
	offset.Store(int64(10 * time.Second))
	deliverWakeups(ctx, t, st)
	offset.Store(int64(dispatch.DefaultGroupWait - time.Second))
	deliverWakeups(ctx, t, st)
	if n := len(h.accepted()); n != 0 {
		t.Fatalf("%d Slack posts a second before group_wait ended", n)
	}

	// Due: the group's own wake-up fires it, no schedule runs.
	offset.Store(int64(dispatch.DefaultGroupWait))
	deliverWakeups(ctx, t, st)
	if n := len(h.accepted()); n != 1 {
		t.Fatalf("%d Slack posts when the group fell due, want 1 from its wake-up", n)
	}
	// Duplicates and redeliveries of the due wake-up, delivered together
	// and one by one, then the safety sweep.
	for range 3 {
		injectWakeup(t, st, topology.Notify, key, due)
	}
	deliverWakeups(ctx, t, st)
	offset.Store(int64(dispatch.DefaultGroupWait + time.Second))
	injectWakeup(t, st, topology.Notify, key, due)
	deliverWakeups(ctx, t, st)
	flushNotifications(t, st)
	h.failIf(t)
	if n := len(h.accepted()); n != 1 {
		t.Fatalf("%d Slack posts after duplicated wake-ups, want 1", n)
	}
	if n := mailsTo(t, st, "cx-support@example.com"); n != 1 {
		t.Fatalf("%d mails after duplicated wake-ups, want 1", n)
	}
	if got := st.Wakeups().Delivered()[topology.Notify]; got < 9 {
		t.Fatalf("notify was handed %d wake-ups, want the group's own, the 7 injected and one hop", got)
	}
}

// appEvent posts an in-house app event signed at the stack's time.
func appEvent(t testing.TB, st *localstack.Stack, id, body string, at time.Time) {
	t.Helper()
	key, _ := standardwebhooks.DecodeSecret(secret)
	req, _ := http.NewRequest("POST", st.URL+"/v1/webhooks/app", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", "v1,"+standardwebhooks.Sign(key, id, at.Unix(), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook %s: %d", id, resp.StatusCode)
	}
}

// The ticket first-response SLA (4 hours, an absence rule) raises its
// failure within a second of its deadline while the stack runs. Setting
// it schedules no wake-up (it is hours away); the rule-timers run of the
// minute it comes within rules.WakeHorizon arms one, which fires at the
// deadline. The clock moves to that run, then in tenths of a second
// around the deadline.
func TestAbsenceDeadlineRaisedOnTime(t *testing.T) {
	st, _, offset, now := notifyStack(t, nil)
	ctx := context.Background()
	t0 := now()
	appEvent(t, st, "msg_ticket_1", fmt.Sprintf(`{"type":"ticket.created","customer":{"id":"ivy","email":"ivy@example.com"},"occurred_at":%q,"attributes":{"ticket_id":"T-100"}}`,
		t0.UTC().Format(time.RFC3339Nano)), t0)
	idle(t, st)
	deadline := t0.Add(4 * time.Hour)
	raised := func() *events.Failure {
		for _, f := range failures(t, st) {
			if f.RuleID == "ticket.first_response" {
				return &f
			}
		}
		return nil
	}
	// The run of the first minute from which the deadline is within the
	// horizon arms it; until then nothing travels.
	arm := deadline.Add(-rules.WakeHorizon)
	if m := arm.Truncate(time.Minute); m.Before(arm) {
		arm = m.Add(time.Minute)
	}
	offset.Store(int64(arm.Add(-time.Minute).Sub(t0)))
	deliverWakeups(ctx, t, st)
	if n := st.Wakeups().Delivered()[topology.Rules]; n != 0 {
		t.Fatalf("rules was handed %d wake-up(s) before its deadlines came within %s, want none", n, rules.WakeHorizon)
	}
	offset.Store(int64(arm.Sub(t0)))
	if err := st.Tick(ctx, "rule-timers"); err != nil {
		t.Fatal(err)
	}
	deliverWakeups(ctx, t, st)
	var f *events.Failure
	for at := -time.Second; at <= 2*time.Second && f == nil; at += 100 * time.Millisecond {
		offset.Store(int64(deadline.Add(at).Sub(t0)))
		deliverWakeups(ctx, t, st)
		f = raised()
		if f == nil && at >= time.Second {
			t.Fatalf("no first-response failure %s after the deadline", at)
		}
	}
	if f == nil {
		t.Fatal("the first-response deadline never raised its failure")
	}
	if late := f.DetectedAt.Sub(deadline); late < 0 || late > time.Second {
		t.Fatalf("first-response failure detected %s after its deadline, want within a second", late)
	}
	// The ticket's two deadlines (the first response and the support
	// journey's stage SLA, both 4 hours): one wake-up each, no hops.
	if n := st.Wakeups().Delivered()[topology.Rules]; n != 2 {
		t.Fatalf("rules was handed %d wake-ups, want one per deadline", n)
	}
}

// The shipped routes send a critical failure at once — by the event that
// raised it, with no wake-up and no schedule — and batch the rest of the
// burst into one update when group_interval (1 minute) has passed since,
// sent by the group's wake-up.
func TestCriticalFirstNoticeAtOnce(t *testing.T) {
	st, h, offset, now := notifyStack(t, nil)
	ctx := context.Background()
	t0 := now()
	publish(t, st, events.TypeFailureDetected, failureOf("flr_crit0", "payment.failed_twice", "payments", "critical", "checkout", "c-crit0", t0))
	if n := len(h.accepted()); n != 1 {
		t.Fatalf("%d Slack posts once the first critical failure was seen, want 1 at once", n)
	}
	offset.Store(int64(5 * time.Second))
	for i := 1; i <= 5; i++ {
		publish(t, st, events.TypeFailureDetected, failureOf(fmt.Sprint("flr_crit", i), "payment.failed_twice", "payments", "critical", "checkout", fmt.Sprint("c-crit", i), now()))
	}
	offset.Store(int64(time.Minute - time.Second))
	deliverWakeups(ctx, t, st)
	if n := len(h.accepted()); n != 1 {
		t.Fatalf("%d Slack posts before group_interval passed, want the first only", n)
	}
	offset.Store(int64(time.Minute))
	deliverWakeups(ctx, t, st)
	posts := h.accepted()
	if len(posts) != 2 {
		t.Fatalf("%d Slack posts when group_interval passed, want the first and one update", len(posts))
	}
	if !containsAll([]string{fmt.Sprint(posts[1].Blocks)}, "c-crit1", "c-crit5") {
		t.Fatalf("the update does not list the burst: %s", posts[1].Text)
	}
	h.failIf(t)
}

// The event source emulation keeps SQS's redrive: a wake-up the function
// reports as failed (here one naming a group that does not exist) comes
// back after the queue's visibility timeout, and after
// topology.WakeupQueue.MaxReceives tries lands on the wake-up queue's
// dead-letter queue, not before.
func TestFailingWakeupGoesToItsDeadLetterQueue(t *testing.T) {
	st, _, offset, _ := notifyStack(t, nil)
	ctx := context.Background()
	injectWakeup(t, st, topology.Notify, "gnone", testNow().Add(-time.Hour))
	cfg, err := awsclient.Load(ctx, st.Moto)
	if err != nil {
		t.Fatal(err)
	}
	client := sqs.NewFromConfig(cfg)
	dlq, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("ocx-" + localstack.Stage + "-" + topology.WakeupQueueName(topology.Notify) + "-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	letters := func() []string {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: dlq.QueueUrl, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
		}
		return bodies
	}
	for try := 1; try <= topology.WakeupQueue.MaxReceives; try++ {
		deliverWakeups(ctx, t, st)
		if got := st.Wakeups().Delivered()[topology.Notify]; got != try {
			t.Fatalf("try %d: the wake-up was handed over %d times", try, got)
		}
		if try < topology.WakeupQueue.MaxReceives {
			if l := letters(); len(l) != 0 {
				t.Fatalf("dead-lettered after %d tries: %v", try, l)
			}
		}
		offset.Add(int64(topology.WakeupQueue.Visibility))
	}
	l := letters()
	if len(l) != 1 || !strings.Contains(l[0], `"key":"gnone"`) {
		t.Fatalf("dead letters %v, want the wake-up after %d tries", l, topology.WakeupQueue.MaxReceives)
	}
}
