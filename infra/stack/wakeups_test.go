package stack_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ocxhq/ocx/infra/stack"
	"github.com/ocxhq/ocx/internal/topology"
)

// Each function with wake-ups gets its own queue, named as topology names
// it and named in its environment, which only it may send to; an event
// source mapping hands the queue back to it reporting failed items, with
// a dead-letter queue after topology's tries and a visibility timeout
// the function fits in. No other function consumes or sends to it. The
// only other mappings are the bus queues' (TestBusQueuesFollowTopology).
func TestWakeupQueuesFollowTopology(t *testing.T) {
	forEachStage(t, func(t *testing.T, s *synthesized) {
		mapIDs, mappings := s.tmpl.ofType("AWS::Lambda::EventSourceMapping")
		want := 0
		for _, fn := range topology.Functions {
			f, ok := s.function(fn.Name)
			if !ok {
				t.Fatalf("no function %s", fn.Name)
			}
			busQueue, _, _ := s.busQueue(fn.Name)
			var mine []int
			for i, m := range mappings {
				if refs(m.Properties["FunctionName"])[f.id] && !refs(m.Properties["EventSourceArn"])[busQueue] {
					mine = append(mine, i)
				}
			}
			if fn.Bus != nil {
				want++
			}
			if !fn.Wakeups {
				if len(mine) > 0 {
					t.Errorf("%s has no wake-ups but an event source mapping %s", fn.Name, mapIDs[mine[0]])
				}
				if env := f.env()[topology.EnvWakeupQueue]; env != nil {
					t.Errorf("%s has no wake-ups but %s = %v", fn.Name, topology.EnvWakeupQueue, env)
				}
				continue
			}
			want++
			if len(mine) != 1 {
				t.Errorf("%s: %d event source mappings besides its bus queue's, want its wake-up queue's", fn.Name, len(mine))
				continue
			}
			m := mappings[mine[0]].Properties
			if fmt.Sprint(m["FunctionResponseTypes"]) != "[ReportBatchItemFailures]" || m["BatchSize"] != float64(topology.WakeupQueue.BatchSize) {
				t.Errorf("%s: mapping %v, want batches of %d reporting item failures", fn.Name, m, topology.WakeupQueue.BatchSize)
			}
			var queue string
			for id := range refs(m["EventSourceArn"]) {
				queue = id
			}
			q := s.tmpl.Resources[queue]
			if q.Type != "AWS::SQS::Queue" {
				t.Fatalf("%s: event source %s is a %s", fn.Name, queue, q.Type)
			}
			// A function with a bus queue too tells the two apart by name.
			if name := "ocx-" + s.stage + "-" + topology.WakeupQueueName(fn.Name); q.Properties["QueueName"] != name {
				t.Errorf("%s: wake-up queue named %v, want %s", fn.Name, q.Properties["QueueName"], name)
			}
			if !refs(dig(f.Properties, "Environment", "Variables", topology.EnvWakeupQueue))[queue] {
				t.Errorf("%s: %s does not name its wake-up queue %s", fn.Name, topology.EnvWakeupQueue, queue)
			}
			_, timeout, reserved, _ := stack.DeployedSize(fn)
			if vis, _ := q.Properties["VisibilityTimeout"].(float64); vis < timeout.Seconds() {
				t.Errorf("%s: wake-up visibility timeout %v s is shorter than the function's %s", fn.Name, vis, timeout)
			}
			if reserved > 0 && dig(m, "ScalingConfig", "MaximumConcurrency") != float64(max(reserved, 2)) {
				t.Errorf("%s: mapping polls with %v concurrent batches, want its reserved concurrency %d", fn.Name, dig(m, "ScalingConfig", "MaximumConcurrency"), reserved)
			}
			if dig(q.Properties, "RedrivePolicy", "maxReceiveCount") != float64(topology.WakeupQueue.MaxReceives) {
				t.Errorf("%s: wake-up queue redrive %v, want a dead-letter queue after %d tries", fn.Name, q.Properties["RedrivePolicy"], topology.WakeupQueue.MaxReceives)
			}
			// Only this function's role may send to the queue.
			for id, r := range s.tmpl.Resources {
				if r.Type != "AWS::IAM::Policy" {
					continue
				}
				for _, st := range asList(dig(r.Properties, "PolicyDocument", "Statement")) {
					if refs(dig(st, "Resource"))[queue] && strings.Contains(fmt.Sprint(dig(st, "Action")), "sqs:SendMessage") &&
						!refs(r.Properties["Roles"])[fmt.Sprint(dig(f.Properties, "Role", "Fn::GetAtt", 0))] {
						t.Errorf("%s: policy %s lets another role send to its wake-up queue", fn.Name, id)
					}
				}
			}
		}
		if len(mappings) != want {
			t.Errorf("%d event source mappings, want one per function with wake-ups and one per function with a bus queue (%d)", len(mappings), want)
		}
	})
}
