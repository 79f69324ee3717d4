package stack

import (
	"fmt"
	"time"

	"github.com/ocxhq/ocx/internal/topology"
)

// size is how much memory, time and concurrency a function gets, and why.
type size struct {
	MemoryMB int
	Timeout  time.Duration
	// ReservedConcurrency caps (and reserves) concurrent executions; zero
	// leaves the function on the account's unreserved pool.
	ReservedConcurrency int

	WhyMemory, WhyTimeout, WhyConcurrency string
}

// sizes justifies each function's sizing. topology.Functions is
// authoritative for MemoryMB and Timeout: the values here are used only when
// topology leaves them zero, and they record the figures the reasons were
// written for (TestSizesJustifyTopology flags a reason that a change in
// topology has made stale). Reserved concurrency is decided here alone.
//
// Lambda gives a function CPU in proportion to its memory (one vCPU at
// 1,769 MB). A Go bootstrap needs a few tens of MB, so memory above that buys
// CPU, and is worth paying for only on latency-sensitive or CPU-heavy paths.
var sizes = map[string]size{
	topology.Ingest: {
		MemoryMB: 512, Timeout: 15 * time.Second,
		WhyMemory: "on the webhook's synchronous path: twice the CPU of 256 MB shortens signature checks " +
			"(HMAC, ECDSA), JSON mapping and cold starts, which providers see as latency",
		WhyTimeout: "covers secret fetch, S3 archive, DynamoDB dedupe and PutEvents with SDK retries; " +
			"HTTP API stops waiting at 30 s and providers give up sooner and redeliver, so waiting longer helps no one",
		WhyConcurrency: "none: synchronous behind the API stage throttle, which already bounds it; " +
			"a cap would turn bursts into 5xx that providers retry",
	},
	topology.Journey: {
		MemoryMB: 256, Timeout: 30 * time.Second,
		WhyMemory: "I/O-bound: a few DynamoDB reads and conditional writes per interaction",
		WhyTimeout: "a batch from its bus queue (25 interactions at most), a handful of DynamoDB round trips each, " +
			"with SDK back-off on throttling or write contention, stays far below 30 s; the queue's visibility is six times it",
		WhyConcurrency: "none: its tables are on-demand and scale with traffic (the SDK retries the rare throttle); " +
			"a cap would only leave the backlog in its bus queue",
	},
	topology.Rules: {
		MemoryMB: 256, Timeout: 30 * time.Second,
		WhyMemory: "matches one event against in-memory rule patterns, or on a timer tick fires the deadlines that " +
			"came due: DynamoDB round trips, little CPU",
		WhyTimeout: "a batch from its bus queue (25 events at most), each a rule pass with conditional writes to rule state " +
			"and failure records and a PutEvents, with SDK retries; also well inside the 1-minute timer period",
		WhyConcurrency: "none: on-demand DynamoDB and PutEvents absorb its load; " +
			"a cap would delay failure detection without protecting anything",
	},
	topology.Notify: {
		MemoryMB: 256, Timeout: 60 * time.Second, ReservedConcurrency: 2,
		WhyMemory: "waits on Slack and SES, not on CPU",
		WhyTimeout: "room for up to 4 attempts per receiver (10 s HTTP timeout) and the waits between them " +
			"(back-off, or Slack's Retry-After up to 10 s); the 90 s delivery lease outlives it, so a retry cannot send twice",
		WhyConcurrency: "2: Slack accepts about one message per second per incoming webhook; uncapped, a burst of failures " +
			"would run dozens of invocations that all draw 429s and exhaust their retries. Throttled events wait in " +
			"Lambda's async queue (retried for up to the 6 h event age), so nothing is lost; SES's sending rate is higher still",
	},
	topology.Rollup: {
		MemoryMB: 512, Timeout: 5 * time.Minute,
		WhyMemory: "recomputes every hour and day touched since the last run: a catch-up after a burst is CPU- and memory-heavy; " +
			"between runs it counts batches of up to 100 bus events",
		WhyTimeout: "its schedule period: a run cut short is repeated exactly by the next, since counters are marked clean only after their series are written",
		WhyConcurrency: "none: runs are exact and mark counters clean only if unchanged, so an overlap wastes work " +
			"but corrupts nothing; reserving 1 would take from the account pool to save little",
	},
	topology.Outbound: {
		MemoryMB: 256, Timeout: 60 * time.Second,
		WhyMemory: "waits on subscribers' endpoints, not on CPU: signs and posts a few KB per delivery",
		WhyTimeout: "a wake-up batch (up to 10) is tried side by side, each bounded by the 15 s client timeout, " +
			"with DynamoDB and SQS round trips around it; inside the wake-up queue's 2-minute visibility",
		WhyConcurrency: "none: deliveries are spread over time by their backoff, and an endpoint that cannot keep up " +
			"answers 429 with Retry-After, which is honoured",
	},
	topology.API: {
		MemoryMB: 256, Timeout: 10 * time.Second,
		WhyMemory:  "reads a few DynamoDB items per query",
		WhyTimeout: "an analyst query slower than 10 s is a bug to see, not to wait on; below HTTP API's 30 s limit",
		WhyConcurrency: "none: behind the API stage throttle and the analyst authorizer, " +
			"reading on-demand tables",
	},
}

// sizeOf is what the function is deployed with: topology's memory and
// timeout when set, otherwise the documented defaults above.
func sizeOf(fn topology.Function) (size, error) {
	s, ok := sizes[fn.Name]
	if !ok {
		return size{}, fmt.Errorf("no sizing: add the function to sizes in infra/stack/sizing.go with the reasons for its memory, timeout and concurrency")
	}
	if fn.MemoryMB > 0 {
		s.MemoryMB = fn.MemoryMB
	}
	if fn.Timeout > 0 {
		s.Timeout = fn.Timeout
	}
	if s.MemoryMB <= 0 || s.Timeout <= 0 {
		return size{}, fmt.Errorf("no memory or timeout in topology or infra/stack/sizing.go")
	}
	return s, nil
}
