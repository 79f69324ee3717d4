package stack_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/infra/stack"
	"github.com/ocxhq/ocx/internal/topology"
)

// busRuleIDs finds the logical id of each bus rule's rule (busRules), by
// its pattern and description.
func (s *synthesized) busRuleIDs(t *testing.T) map[string]string {
	t.Helper()
	ids, rules := s.tmpl.ofType("AWS::Events::Rule")
	out := map[string]string{}
	for _, want := range busRules(t) {
		var pattern any
		if err := json.Unmarshal([]byte(want.Pattern), &pattern); err != nil {
			t.Fatalf("%s: %v", want.Name, err)
		}
		for i, r := range rules {
			if r.Properties["Description"] == want.Description && reflect.DeepEqual(r.Properties["EventPattern"], pattern) {
				out[want.Name] = ids[i]
			}
		}
		if out[want.Name] == "" {
			t.Fatalf("no rule for bus rule %s", want.Name)
		}
	}
	return out
}

// scheduleRuleIDs finds the logical id of each topology.Schedule's rule.
func (s *synthesized) scheduleRuleIDs(t *testing.T) map[string]string {
	t.Helper()
	ids, rules := s.tmpl.ofType("AWS::Events::Rule")
	out := map[string]string{}
	for _, want := range topology.Schedules {
		for i, r := range rules {
			if r.Properties["Description"] == want.Description && r.Properties["ScheduleExpression"] == want.Expression() {
				out[want.Name] = ids[i]
			}
		}
		if out[want.Name] == "" {
			t.Fatalf("no rule for schedule %s", want.Name)
		}
	}
	return out
}

// queueNamed finds the queue with a physical name.
func (s *synthesized) queueNamed(name string) (string, cfnResource, bool) {
	ids, queues := s.tmpl.ofType("AWS::SQS::Queue")
	for i, q := range queues {
		if q.Properties["QueueName"] == name {
			return ids[i], q, true
		}
	}
	return "", cfnResource{}, false
}

// busQueue finds a function's bus queue by the name topology gives it.
func (s *synthesized) busQueue(fn string) (string, cfnResource, bool) {
	return s.queueNamed("ocx-" + s.stage + "-" + topology.BusQueueName(fn))
}

// Each function with a bus queue gets it, named as topology names it: its
// bus rules deliver to the queue (with their own dead-letter queue and
// retries), only those rules may send to it, and one event source mapping
// hands it to the function in topology's batches, reporting failed
// items. After topology's tries a message goes to a dead-letter queue the
// API lists and redrives; the queue alarms when its oldest message is
// older than retries alone make it.
func TestBusQueuesFollowTopology(t *testing.T) {
	withBus := 0
	for _, fn := range topology.Functions {
		if fn.Bus != nil {
			withBus++
		}
	}
	if withBus == 0 {
		t.Fatal("no function takes its bus events from a queue: topology lost journey's, rules' and rollup's bus queues")
	}
	forEachStage(t, func(t *testing.T, s *synthesized) {
		ruleIDs := s.busRuleIDs(t)
		_, mappings := s.tmpl.ofType("AWS::Lambda::EventSourceMapping")
		_, policies := s.tmpl.ofType("AWS::SQS::QueuePolicy")
		_, alarms := s.tmpl.ofType("AWS::CloudWatch::Alarm")
		api, _ := s.function(topology.API)
		listed := refs(api.env()[topology.EnvDeadLetterQueues])
		for _, fn := range topology.Functions {
			if fn.Bus == nil {
				if _, _, ok := s.busQueue(fn.Name); ok {
					t.Errorf("%s takes no bus events from a queue but has one", fn.Name)
				}
				continue
			}
			bq := *fn.Bus
			f, ok := s.function(fn.Name)
			if !ok {
				t.Fatalf("no function %s", fn.Name)
			}
			qid, q, ok := s.busQueue(fn.Name)
			if !ok {
				t.Errorf("%s: no queue named ocx-%s-%s", fn.Name, s.stage, topology.BusQueueName(fn.Name))
				continue
			}
			if strings.HasSuffix(fmt.Sprint(q.Properties["QueueName"]), topology.WakeupQueueName("")) {
				t.Errorf("%s: bus queue %v is named like a wake-up queue", fn.Name, q.Properties["QueueName"])
			}

			// The queue: visibility, retention, tries, dead-letter queue.
			_, timeout, reserved, _ := stack.DeployedSize(fn)
			vis, _ := q.Properties["VisibilityTimeout"].(float64)
			if vis != bq.Visibility.Seconds() || vis < timeout.Seconds() {
				t.Errorf("%s: bus queue visibility %v s, want topology's %s, at least the function's timeout %s", fn.Name, vis, bq.Visibility, timeout)
			}
			if q.Properties["SqsManagedSseEnabled"] != true || q.Properties["KmsMasterKeyId"] != nil {
				t.Errorf("%s: bus queue not encrypted with SQS-managed keys (EventBridge cannot deliver to one under the AWS managed KMS key): %v", fn.Name, q.Properties)
			}
			retention, _ := q.Properties["MessageRetentionPeriod"].(float64)
			if retention != (4 * 24 * time.Hour).Seconds() {
				t.Errorf("%s: bus queue keeps messages %v s, want 4 days", fn.Name, retention)
			}
			if dig(q.Properties, "RedrivePolicy", "maxReceiveCount") != float64(bq.MaxReceives) {
				t.Errorf("%s: bus queue redrive %v, want a dead-letter queue after %d tries", fn.Name, q.Properties["RedrivePolicy"], bq.MaxReceives)
			}
			var dlq string
			for id := range refs(dig(q.Properties, "RedrivePolicy", "deadLetterTargetArn")) {
				dlq = id
			}
			d := s.tmpl.Resources[dlq]
			if d.Type != "AWS::SQS::Queue" {
				t.Fatalf("%s: dead-letter target %q is a %q", fn.Name, dlq, d.Type)
			}
			if kept, _ := d.Properties["MessageRetentionPeriod"].(float64); kept != (14*24*time.Hour).Seconds() || kept <= retention {
				t.Errorf("%s: dead-letter queue keeps messages %v s, want 14 days, longer than the bus queue", fn.Name, kept)
			}
			if !listed[dlq] {
				t.Errorf("%s: dead-letter queue %s is not among the API's %s", fn.Name, dlq, topology.EnvDeadLetterQueues)
			}

			// The rules: each bus rule for the function delivers to the
			// queue, with a dead-letter queue and retries, never to the
			// function itself.
			var senders []string
			for _, r := range topology.BusRules {
				if r.Target != fn.Name {
					continue
				}
				id := ruleIDs[r.Name]
				senders = append(senders, id)
				tgts := asList(s.tmpl.Resources[id].Properties["Targets"])
				if len(tgts) != 1 {
					t.Errorf("%s: rule %s has %d targets, want its bus queue", fn.Name, r.Name, len(tgts))
					continue
				}
				tg := tgts[0]
				if !refs(dig(tg, "Arn"))[qid] || refs(dig(tg, "Arn"))[f.id] {
					t.Errorf("%s: rule %s targets %v, want the bus queue %s", fn.Name, r.Name, dig(tg, "Arn"), qid)
				}
				ruleDLQ := ""
				for id := range refs(dig(tg, "DeadLetterConfig", "Arn")) {
					ruleDLQ = id
				}
				if s.tmpl.Resources[ruleDLQ].Type != "AWS::SQS::Queue" || !listed[ruleDLQ] {
					t.Errorf("%s: rule %s: dead-letter config %v, want a queue the API lists", fn.Name, r.Name, dig(tg, "DeadLetterConfig"))
				}
				if dig(tg, "RetryPolicy", "MaximumRetryAttempts") == nil || dig(tg, "RetryPolicy", "MaximumEventAgeInSeconds") == nil {
					t.Errorf("%s: rule %s: target without RetryPolicy: %v", fn.Name, r.Name, tg)
				}
			}
			if len(senders) == 0 {
				t.Errorf("%s has a bus queue but no bus rule delivers to it", fn.Name)
			}

			// The queue policy: EventBridge may send, on behalf of those
			// rules only; nothing else is allowed.
			sort.Strings(senders)
			sends := 0
			for _, p := range policies {
				if !refs(p.Properties["Queues"])[qid] {
					continue
				}
				for _, st := range asList(dig(p.Properties, "PolicyDocument", "Statement")) {
					if dig(st, "Effect") != "Allow" {
						continue
					}
					if dig(st, "Principal", "Service") != "events.amazonaws.com" {
						t.Errorf("%s: bus queue policy allows %v", fn.Name, dig(st, "Principal"))
						continue
					}
					var from []string
					for id := range refs(dig(st, "Condition", "ArnEquals", "aws:SourceArn")) {
						from = append(from, id)
					}
					sort.Strings(from)
					if !reflect.DeepEqual(from, senders) || len(asList(dig(st, "Condition", "ArnEquals", "aws:SourceArn"))) > 1 {
						t.Errorf("%s: bus queue policy lets EventBridge send on behalf of %v, want only rules %v", fn.Name, from, senders)
					}
					if refs(dig(st, "Resource"))[qid] && slices.Contains(actions(st), "sqs:SendMessage") {
						sends++
					}
				}
			}
			if sends == 0 {
				t.Errorf("%s: no queue policy lets events.amazonaws.com send to bus queue %s", fn.Name, qid)
			}

			// The mapping: one, to this function, in topology's batches.
			var mine []cfnResource
			for _, m := range mappings {
				if refs(m.Properties["EventSourceArn"])[qid] {
					mine = append(mine, m)
				}
			}
			if len(mine) != 1 {
				t.Errorf("%s: %d event source mappings on its bus queue, want 1", fn.Name, len(mine))
				continue
			}
			m := mine[0].Properties
			if !refs(m["FunctionName"])[f.id] {
				t.Errorf("%s: its bus queue is mapped to %v", fn.Name, m["FunctionName"])
			}
			if m["BatchSize"] != float64(bq.BatchSize) {
				t.Errorf("%s: mapping batch size %v, want %d", fn.Name, m["BatchSize"], bq.BatchSize)
			}
			if want := bq.Window.Seconds(); bq.Window > 0 && m["MaximumBatchingWindowInSeconds"] != want ||
				bq.Window == 0 && m["MaximumBatchingWindowInSeconds"] != nil {
				t.Errorf("%s: mapping batching window %v s, want %s", fn.Name, m["MaximumBatchingWindowInSeconds"], bq.Window)
			}
			if !reflect.DeepEqual(m["FunctionResponseTypes"], []any{"ReportBatchItemFailures"}) {
				t.Errorf("%s: mapping response types %v, want [ReportBatchItemFailures]", fn.Name, m["FunctionResponseTypes"])
			}
			if reserved > 0 && dig(m, "ScalingConfig", "MaximumConcurrency") != float64(max(reserved, 2)) {
				t.Errorf("%s: mapping polls with %v concurrent batches, want its reserved concurrency %d", fn.Name, dig(m, "ScalingConfig", "MaximumConcurrency"), reserved)
			}

			// The age alarm: above what retries alone make it.
			aged := 0
			for _, a := range alarms {
				p := a.Properties
				if p["MetricName"] != "ApproximateAgeOfOldestMessage" || !refs(p["Dimensions"])[qid] {
					continue
				}
				aged++
				if th, _ := p["Threshold"].(float64); p["Statistic"] != "Maximum" || th <= 2*bq.Visibility.Seconds() {
					t.Errorf("%s: age alarm %v of %v s, want the maximum above two visibility timeouts (%s each)", fn.Name, p["Statistic"], p["Threshold"], bq.Visibility)
				}
			}
			if aged != 1 {
				t.Errorf("%s: %d age alarms on its bus queue, want 1", fn.Name, aged)
			}
		}
	})
}

// EventBridge invokes a function only from a schedule or a bus rule that
// does not deliver to a queue: the Lambda permissions for
// events.amazonaws.com are exactly those rules', and only functions so
// invoked have an asynchronous invoke config (journey, which has no
// schedule, has none).
func TestEventBridgeInvokesOnlyWhatTopologySays(t *testing.T) {
	forEachStage(t, func(t *testing.T, s *synthesized) {
		busRules := s.busRuleIDs(t)
		schedules := s.scheduleRuleIDs(t)
		_, permissions := s.tmpl.ofType("AWS::Lambda::Permission")
		_, configs := s.tmpl.ofType("AWS::Lambda::EventInvokeConfig")
		for _, fn := range topology.Functions {
			f, ok := s.function(fn.Name)
			if !ok {
				t.Fatalf("no function %s", fn.Name)
			}
			want := []string{}
			for _, r := range topology.BusRules {
				if r.Target == fn.Name && fn.Bus == nil {
					want = append(want, busRules[r.Name])
				}
			}
			for _, sc := range topology.Schedules {
				if sc.Target == fn.Name {
					want = append(want, schedules[sc.Name])
				}
			}
			got := []string{}
			for _, p := range permissions {
				if !refs(p.Properties["FunctionName"])[f.id] || p.Properties["Principal"] != "events.amazonaws.com" {
					continue
				}
				from := refs(p.Properties["SourceArn"])
				if len(from) != 1 {
					t.Errorf("%s: EventBridge may invoke it on behalf of %v, want one rule per permission", fn.Name, p.Properties["SourceArn"])
				}
				for id := range from {
					got = append(got, id)
				}
			}
			sort.Strings(want)
			sort.Strings(got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: EventBridge may invoke it from rules %v, want %v (its schedules, and bus rules only without a bus queue)", fn.Name, got, want)
			}
			async := 0
			for _, c := range configs {
				if refs(c.Properties["FunctionName"])[f.id] {
					async++
				}
			}
			if wantAsync := map[bool]int{true: 1, false: 0}[len(want) > 0]; async != wantAsync {
				t.Errorf("%s: %d async invoke configs, want %d (invoked asynchronously by %v)", fn.Name, async, wantAsync, want)
			}
		}
		if j, ok := topology.FunctionByName(topology.Journey); ok && j.Bus != nil {
			f, _ := s.function(topology.Journey)
			for _, p := range permissions {
				if refs(p.Properties["FunctionName"])[f.id] && p.Properties["Principal"] == "events.amazonaws.com" {
					t.Errorf("journey takes its events from its bus queue, yet EventBridge may invoke it: %v", p.Properties)
				}
			}
			for _, c := range configs {
				if refs(c.Properties["FunctionName"])[f.id] {
					t.Errorf("journey is never invoked asynchronously, yet has an async invoke config: %v", c.Properties)
				}
			}
		}
	})
}
