package localstack_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/motoserver"
	"github.com/ocxhq/ocx/internal/topology"
)

var updateCost = flag.Bool("update-cost", false, "rewrite docs/cost.md from the counted requests")

// List prices, us-east-1, USD per million units.
var prices = map[string]float64{
	"API Gateway HTTP API requests": 1.00,
	"Lambda requests":               0.20,
	"EventBridge events put":        1.00,
	"DynamoDB write request units":  0.625,
	"DynamoDB read request units":   0.125,
	"S3 PUT requests":               5.00,
	"S3 GET requests":               0.40,
	"SES emails":                    100.00,
	"Secrets Manager API calls":     5.00,
	"SQS requests":                  0.40,
	// $0.029 per GB ingested, each record rounded up to 5 KB.
	"Data Firehose 5 KB record units": 0.029 * 5120 / (1 << 30) * 1e6,
}

type scenario struct {
	name string
	body func(i int) string
	// failures is true when each interaction raises a failure (Slack + email).
	failures bool
}

// usage turns counted requests of n interactions into billable units per
// interaction.
func usage(c map[string]int, inv, batches, sends map[string]int, n int) map[string]float64 {
	per := func(v int) float64 { return float64(v) / float64(n) }
	lambda := n // the ingest invocation behind each webhook
	for _, v := range inv {
		lambda += v
	}
	sqsRequests := 0
	for k, v := range c {
		if strings.HasPrefix(k, "sqs ") {
			sqsRequests += v
		}
	}
	// EventBridge sends each event to each bus queue it is routed to, and
	// the queues' event source mappings receive each batch and delete what
	// succeeded: requests the local stack's queues make without the
	// emulator.
	for _, s := range sends {
		sqsRequests += s
	}
	for _, b := range batches {
		sqsRequests += 2 * b
	}
	reads := c["dynamodb items read"]
	for _, a := range []string{"Query", "Scan"} {
		reads += c["dynamodb "+a] // small result sets: one unit a call
	}
	return map[string]float64{
		"API Gateway HTTP API requests": 1,
		"Lambda requests":               per(lambda),
		"EventBridge events put":        per(c["eventbridge events put"]),
		// One unit per started KB of a put item, two in a transaction;
		// updates and deletes one; consistent reads one unit per item.
		"DynamoDB write request units":    per(c[motoserver.WriteUnits]),
		"DynamoDB read request units":     per(reads),
		"S3 PUT requests":                 per(c["s3 PutObject"]),
		"S3 GET requests":                 per(c["s3 GetObject"]),
		"SES emails":                      per(c["sesv2 SendEmail"]),
		"Secrets Manager API calls":       per(c["secretsmanager GetSecretValue"]),
		"SQS requests":                    per(sqsRequests),
		"Data Firehose 5 KB record units": per(c[motoserver.FirehoseUnits]),
	}
}

// The cost of one interaction, counted: webhooks go through the local
// stack and every AWS request they cause is metered at the emulator.
func TestCostPerInteraction(t *testing.T) {
	if testing.Short() {
		t.Fatal("the cost test counts real requests; run it without -short")
	}
	// The rollup runs only when the test says, so its requests are counted apart.
	// The clock stands still: no minute turns while requests are counted
	// (the ingest function's intake tally publishes when one does), and no
	// wake-up falls due, so every run counts the same requests.
	at := testNow()
	st := startWith(t, t.TempDir(), "", func(c *localstack.Config) {
		c.RollupEvery = time.Hour
		c.Now = func() time.Time { return at }
		c.HoldBatches = true
	})
	defer st.Stop()
	// Write units as billed: on the larger of an item's sizes before and
	// after, with the global secondary indexes the write changes.
	st.Meter().MeasureWrites(true)
	now := at.UTC().Format(time.RFC3339)
	scenarios := []scenario{
		{name: "an interaction that raises no failure (order.created)", body: func(i int) string {
			return fmt.Sprintf(`{"type":"order.created","customer":{"id":"c-%d","email":"c%d@example.com"},"occurred_at":%q,"attributes":{"order_id":"o-%d"}}`, i, i, now, i)
		}},
		{name: "an interaction that raises a failure (NPS 3: Slack + email)", failures: true, body: func(i int) string {
			return fmt.Sprintf(`{"type":"survey.responded","customer":{"id":"d-%d"},"occurred_at":%q,"attributes":{"survey":"nps","score":3}}`, i, now)
		}},
	}
	// Warm the secret caches, as a warm Lambda has them.
	send(t, st, "warm", scenarios[0].body(-1), false)
	idle(t, st)

	const n = 20
	var doc bytes.Buffer
	fmt.Fprintf(&doc, "# What one interaction costs\n\n")
	fmt.Fprintf(&doc, "Counted, not estimated: `go test ./internal/localstack -run TestCostPerInteraction` sends %d webhooks of each kind through the local stack and meters every AWS request they cause at the emulator (`internal/motoserver/meter.go`), then prices them at us-east-1 list prices. `-update-cost` rewrites this file; the test fails when the counts drift from it.\n\n", n)
	type figures struct{ wcu, usd float64 }
	var totals []figures
	for _, sc := range scenarios {
		st.Meter().Reset()
		st.Invocations()
		st.Wakeups().Sends()
		st.Billing()
		for i := range n {
			if r := send(t, st, fmt.Sprintf("cost-%d-%d", len(sc.name), i), sc.body(i), false); r.StatusCode != 202 {
				t.Fatalf("%s: webhook %d: %d", sc.name, i, r.StatusCode)
			}
		}
		idle(t, st)
		counts, batches, sends := st.Meter().Snapshot(), st.Wakeups().Invocations(), st.Wakeups().Sends()
		inv := st.Router().Invocations()
		if inv == nil {
			inv = map[string]int{}
		}
		for fn, b := range batches {
			inv[fn] += b
		}
		u := usage(counts, inv, batches, sends, n)
		fmt.Fprintf(&doc, "## %s\n\n", strings.ToUpper(sc.name[:1])+sc.name[1:])
		fmt.Fprintf(&doc, "| unit | per interaction | USD per million units | USD per million interactions |\n|---|---:|---:|---:|\n")
		total := 0.0
		for _, k := range sortedKeys(u) {
			cost := u[k] * prices[k]
			total += cost
			fmt.Fprintf(&doc, "| %s | %.2f | %.3f | %.2f |\n", k, u[k], prices[k], cost)
		}
		fmt.Fprintf(&doc, "| **total, before Lambda duration** | | | **%.2f** |\n\n", total)
		totals = append(totals, figures{wcu: u["DynamoDB write request units"], usd: total})
		gbms, billed := lambdaDuration(st.Billing(), n)
		fmt.Fprintf(&doc, "Lambda duration, %s: %.1f GB-ms per interaction (%s) at $0.0000133334 per GB-second, so $%.2f per million interactions and **$%.2f in all**.\n\n",
			measuredHere, gbms, billed, gbms*durationPrice*1e6, total+gbms*durationPrice*1e6)
		fmt.Fprintf(&doc, "Requests seen: %s. Function invocations: %s plus ingest.\n\n", describe(counts, n), describeInv(inv, n))
		fmt.Fprintf(&doc, "Write units by table, item (its key's prefix) and action: %s.\n\n", describeWrites(counts, n))
	}
	st.Meter().Reset()
	if err := st.Tick(context.Background(), "rollup"); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&doc, "## One rollup run after those %d interactions\n\n", 2*n)
	fmt.Fprintf(&doc, "Requests: %s. The run reads only counters changed since the last run (a sparse index), so its cost follows the number of distinct (metric, hour) buckets touched, not the number of interactions or the history kept.\n\n", describe(st.Meter().Snapshot(), 1))
	fmt.Fprintf(&doc, "## Before and after\n\n")
	fmt.Fprintf(&doc, "Counted the same way at each step (write units before the bus queues taken as one per item, which the quiet path's items were):\n\n")
	fmt.Fprintf(&doc, "| step | quiet: write units | quiet: total before duration | failure-raising: write units | failure-raising: total before duration |\n|---|---:|---:|---:|---:|\n")
	fmt.Fprintf(&doc, "| EventBridge invoking journey, rules and rollup once per event; one S3 object per webhook | 27.00 | $27.80 | 38.00 | $34.95 |\n")
	fmt.Fprintf(&doc, "| bus queues and batches; the rollup's counters written once per batch | 23.20 | $26.62 | 37.30 | $35.46 |\n")
	fmt.Fprintf(&doc, "| now (the tables above) | %.2f | $%.2f | %.2f | $%.2f |\n\n", totals[0].wcu, totals[0].usd, totals[1].wcu, totals[1].usd)
	fmt.Fprintf(&doc, "What the last step changed, and why each guarantee still holds:\n\n")
	fmt.Fprintf(&doc, "- **Raw archive through Data Firehose** ($5.00 of S3 PUTs to $0.14): one `PutRecord` per webhook to its channel's delivery stream, durable when it returns, before the 2xx; the stream writes GZIP objects under `raw/<channel>/YYYY/MM/DD/HH/` and each event points at its record (`docs/deploy.md`, \"The raw archive\").\n")
	fmt.Fprintf(&doc, "- **Ingest ledger, 2 writes to 1**: no claim before the work, a consistent read and one write once the events are on the bus. Two attempts of one delivery that overlap publish the same event ids, which every consumer dedupes (`TestOverlappingAttemptsPublishTheSameIDs`); the 409 for an attempt in progress is gone.\n")
	fmt.Fprintf(&doc, "- **Journey, 14 to 9 for a new customer** (7 items in one transaction before): links, instances, pointers and the interaction are single-item writes that are safe to repeat; only the marker and the profile's count stay in a transaction, so an event counts exactly when it is marked applied (`TestCommitStoppedBeforeItsMarkerAppliesOnceOnRedelivery`, `docs/data-model.md`).\n")
	fmt.Fprintf(&doc, "- **Rollup, 6 to 4**: a journey event's marker is its instance's record, which the count writes anyway (up to 16 events an instance, then markers again), so the event costs no marker item (`TestJourneyEventsFoldIntoTheirInstanceRecord`).\n")
	fmt.Fprintf(&doc, "- **Failure, loop, group, rule-state and outbound records** are stored gzip-compressed past 300 bytes (`dynamo.AttrDoc`), which keeps them under the KB a write unit buys.\n")
	fmt.Fprintf(&doc, "- **Loops and outbound endpoints**: a loop's customer and ticket indexes are written apart from its record, not in a transaction with it (an entry left by a write that stopped halfway names a loop that is missing or decided, which readers skip), and a healthy outbound endpoint's last success is written at most once a minute (`TestHealthyEndpointWrittenOncePerRefresh`).\n\n")
	fmt.Fprintf(&doc, "## What is left to reach 6 and 9 write units\n\n")
	fmt.Fprintf(&doc, "Quiet, a new customer, by item: the marker and the profile's count (4, a transaction), the interaction item and the journey pointer (2), two identity links (2, only for keys seen for the first time), the journey instance (1), the rollup's marker for the interaction and the instance's record (4, a transaction), the ledger (1), the rules' state (1). What would take it to 6 without giving up exactly-once:\n\n")
	fmt.Fprintf(&doc, "- **The rollup's writes (4)**: count from per-event contributions the journey already writes (the deltas on the marker it commits), summed on the rollup's schedule into counters it overwrites rather than adds to — idempotent by construction, so no rollup marker and no rollup transaction.\n")
	fmt.Fprintf(&doc, "- **The journey's transaction (4 to 2)**: keep the last few applied event ids on the profile, so the count's own condition is the dedupe, and the marker becomes a plain put after it.\n")
	fmt.Fprintf(&doc, "- **The interaction item and the pointer (2 to 1)**: write the pointer only when an instance starts or ends (already so) and fold a quiet interaction's item into the marker's.\n\n")
	fmt.Fprintf(&doc, "The failure-raising path adds the failure and its outbox message (a transaction), the loop and its customer index (a transaction), the notification group, outbound's delivery and attempt records and the rule's state: each of these is one item per concern today.\n\n")
	fmt.Fprintf(&doc, "## How Lambda duration is measured\n\n")
	fmt.Fprintf(&doc, "Each invocation's handler is timed by the local stack around the same Lambda handler AWS runs (`lambda.NewHandler(...).Invoke`), rounded up to the millisecond as Lambda bills, and priced at the function's configured memory (%s) at arm64's $0.0000133334 per GB-second. The figures are this machine's: its CPU is not a Lambda's share of one at that memory, and the emulator answers slower than DynamoDB, so they move from run to run and machine to machine; the lines that carry them are left out of the test's comparison.\n\n", memories())
	fmt.Fprintf(&doc, "## Not counted here\n\n")
	fmt.Fprintf(&doc, "- **SQS polling while idle**: each event source mapping long-polls its queue; the receive and delete of every delivered batch are counted above (two requests a batch), the empty polls between them are not.\n")
	fmt.Fprintf(&doc, "- CloudWatch Logs ingestion ($0.50/GB), X-Ray traces ($5 per million recorded), the EventBridge archive ($0.10/GB), S3 storage and DynamoDB storage: they follow payload size and retention, see `infra/stack`.\n")
	fmt.Fprintf(&doc, "- Nothing of the write units is estimated: the emulator's proxy reads each written item before and after its write (`internal/motoserver/writes.go`), so a write is charged one unit per started KB of the larger of the two (two in a transaction, a failed condition included), and each global secondary index entry the write puts, changes or deletes is charged as DynamoDB bills it. What is not counted: a transaction's own conflict retries inside DynamoDB, and table writes that TTL expiry makes (free).\n")

	const path = "../../docs/cost.md"
	if *updateCost {
		if err := os.WriteFile(path, doc.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-cost to create it)", err)
	}
	if !bytes.Equal(counted(want), counted(doc.Bytes())) {
		t.Fatalf("docs/cost.md no longer matches the counted requests; run `go test ./internal/localstack -run TestCostPerInteraction -update-cost` and review the diff.\ncounted:\n%s", doc.String())
	}
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func describe(c map[string]int, n int) string {
	var parts []string
	for _, k := range motoserver.Keys(c) {
		if strings.Contains(k, "items") || strings.Contains(k, "events put") || strings.HasPrefix(k, motoserver.WriteUnits) || k == motoserver.FirehoseUnits || k == "firehose records" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(c[k])/float64(n)))
	}
	return strings.Join(parts, ", ")
}

func describeWrites(c map[string]int, n int) string {
	var parts []string
	for _, k := range motoserver.Keys(c) {
		if what, ok := strings.CutPrefix(k, motoserver.WritePrefix); ok {
			parts = append(parts, fmt.Sprintf("%s %.2f", what, float64(c[k])/float64(n)))
		}
	}
	return strings.Join(parts, ", ")
}

func describeInv(inv map[string]int, n int) string {
	keys := make([]string, 0, len(inv))
	for k := range inv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(inv[k])/float64(n)))
	}
	return strings.Join(parts, ", ")
}

func memories() string {
	var parts []string
	for _, f := range topology.Functions {
		parts = append(parts, fmt.Sprintf("%s %d MB", f.Name, f.MemoryMB))
	}
	return strings.Join(parts, ", ")
}

// durationPrice is arm64 Lambda's price per GB-millisecond.
const durationPrice = 0.0000133334 / 1000

// measuredHere marks the lines that carry this machine's timings.
const measuredHere = "measured on this machine"

// counted is the doc without the lines measuredHere marks: what must not
// drift between runs.
func counted(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.Contains(line, []byte(measuredHere)) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// lambdaDuration is the GB-milliseconds billed per interaction, and the
// invocations and billed milliseconds by function behind it.
func lambdaDuration(b map[string]localstack.Billed, n int) (float64, string) {
	names := make([]string, 0, len(b))
	for fn := range b {
		names = append(names, fn)
	}
	sort.Strings(names)
	gbms := 0.0
	var parts []string
	for _, fn := range names {
		f, _ := topology.FunctionByName(fn)
		ms := float64(b[fn].Duration.Milliseconds())
		gbms += ms * float64(f.MemoryMB) / 1024
		parts = append(parts, fmt.Sprintf("%s: %d invocation(s), %.1f ms each", fn, b[fn].Invocations, ms/float64(b[fn].Invocations)))
	}
	return gbms / float64(n), strings.Join(parts, "; ")
}
