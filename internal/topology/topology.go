// Package topology is the one description of OCX's moving parts: its
// functions, tables, bus routing, schedules and HTTP routes. The CDK app and
// the local stack both build from it, so AWS and a developer's machine cannot
// drift apart.
package topology

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/eventpattern"
)

// Function names. Each has a folder under functions/.
const (
	Ingest  = "ingest"
	Journey = "journey"
	Rules   = "rules"
	Notify  = "notify"
	Rollup  = "rollup"
	API     = "api"
	// Outbound sends OCX's events to subscribed endpoints as signed webhooks.
	Outbound = "outbound"
)

// Function describes one Lambda function and what it may touch.
type Function struct {
	Name        string
	Description string
	// MemoryMB and Timeout are sized for the work: see docs in the CDK app.
	MemoryMB int
	Timeout  time.Duration
	// Tables the function reads and writes (logical names).
	Tables []string
	// PutsEvents is true when the function publishes to the bus.
	PutsEvents bool
	// Archive is true when the function writes raw payloads to the archive bucket.
	Archive bool
	// SendsEmail is true when the function sends mail through SES.
	SendsEmail bool
	// Secrets are the secret name prefixes the function reads.
	Secrets []string
	// DeadLetters is true when the function itself puts what it could not
	// deliver on its failures queue (named by EnvDeadLetterQueue).
	DeadLetters bool
	// Wakeups is true when the function schedules its own wake-ups on a
	// delay queue (EnvWakeupQueue) that an event source mapping hands back
	// to it as SQS batches: exact due times instead of polling.
	Wakeups bool
	// Bus, when set, is the queue the function takes its bus events from:
	// its bus rules deliver to the queue (EventBridge's SQS target) and an
	// event source mapping hands them over in batches, instead of one
	// asynchronous invocation per event. Schedules still invoke it directly.
	Bus *Queue
}

// Queue is an SQS queue a function consumes through an event source
// mapping that reports failed items (ReportBatchItemFailures): only the
// messages that failed come back, after Visibility, and a message that
// failed MaxReceives times goes to the queue's dead-letter queue.
type Queue struct {
	// Visibility is how long a message being handled stays hidden, and so
	// how soon a failed one is tried again. It is at least the function's
	// timeout, so a batch is not handed out twice while it runs.
	Visibility time.Duration
	// MaxReceives is how many times a failing message is tried.
	MaxReceives int
	// BatchSize is how many messages one invocation takes at most.
	BatchSize int
	// Window is how long the mapping gathers messages before it invokes
	// with fewer than BatchSize (MaximumBatchingWindowInSeconds); zero
	// invokes at once.
	Window time.Duration
}

// WakeupQueue describes every function's wake-up queue: visibility at
// least every consumer's timeout (60 s at most) and short enough to beat
// the safety sweep; some 20 minutes of tries, long enough to ride out
// throttling of a capped function.
var WakeupQueue = Queue{Visibility: 2 * time.Minute, MaxReceives: 10, BatchSize: 10}

// WakeupQueueName names a function's wake-up queue within a stage's
// prefix, e.g. notify-wakeups.
func WakeupQueueName(function string) string { return function + "-wakeups" }

// BusQueueName names the queue a function takes its bus events from,
// e.g. journey-events.
func BusQueueName(function string) string { return function + "-events" }

// The bus queues. Standard queues, not FIFO: EventBridge never promised
// these consumers an order (its asynchronous invocations ran events
// concurrently), so their state is already keyed by event id and ordered
// by each event's occurred_at, not by arrival; FIFO would cap throughput
// per message group and cost more per request. Visibility is at least the
// function's timeout (six times for journey and rules, as Lambda advises
// for SQS event sources), so a batch is not handed out twice while it
// runs. Five tries, then the
// dead-letter queue, where GET /v1/deadletters lists the event and
// `ocx redrive` puts it back on the bus.
var (
	// journeyQueue and rulesQueue sit on the alert path (a webhook, then
	// rules, then notify): a one-second window adds at most a second to an
	// alert at a trickle, and at a burst batches fill before it ends.
	journeyQueue = Queue{Visibility: 3 * time.Minute, MaxReceives: 5, BatchSize: 25, Window: time.Second}
	rulesQueue   = Queue{Visibility: 3 * time.Minute, MaxReceives: 5, BatchSize: 25, Window: time.Second}
	// rollupQueue feeds counters a five-minute rollup reads: ten seconds
	// of events share one write per counter. Its function's timeout is
	// the scheduled rollup's five minutes, far above what a batch takes,
	// so twice that, not six times, is visibility enough: a failed batch
	// comes back in ten minutes rather than thirty.
	rollupQueue = Queue{Visibility: 10 * time.Minute, MaxReceives: 5, BatchSize: 100, Window: 10 * time.Second}
)

// Logical table names.
const (
	TableIntake    = "intake"
	TableCustomers = "customers"
	TableFailures  = "failures"
	TableMetrics   = "metrics"
	TableRules     = "rules"
	TableOutbound  = "outbound"
)

// Key attribute names shared by every table.
const (
	PK        = "pk"
	SK        = "sk"
	TTL       = "expires_at"
	DirtyPK   = "dirty"
	DirtySK   = "dirty_at"
	DirtyGSI  = "dirty"
	GSI1PK    = "gsi1pk"
	GSI1SK    = "gsi1sk"
	GSI1Index = "gsi1"
	// The rules table's sparse index of what a scheduled run must look at:
	// deadlines by due time, open rate failures and rate tallies by rule.
	DuePK    = "due_pk"
	DueSK    = "due_sk"
	DueIndex = "due"
)

// Index is a global secondary index with string keys, projecting all attributes.
type Index struct {
	Name         string
	PartitionKey string
	SortKey      string
}

// Table is a DynamoDB table with string pk/sk keys.
type Table struct {
	Name        string
	Description string
	Indexes     []Index
	// TTL is the attribute holding an epoch-seconds expiry, or "".
	TTL string
}

// Tables every stack has.
var Tables = []Table{
	{Name: TableIntake, Description: "webhook delivery ledger (dedupe) and quarantined bad rows", TTL: TTL,
		Indexes: []Index{{Name: GSI1Index, PartitionKey: GSI1PK, SortKey: GSI1SK}}},
	{Name: TableCustomers, Description: "identity keys, customers and their interactions", TTL: TTL},
	{Name: TableFailures, Description: "failure records and notification delivery log",
		Indexes: []Index{{Name: GSI1Index, PartitionKey: GSI1PK, SortKey: GSI1SK}}},
	{Name: TableMetrics, Description: "hourly metric counters and rolled-up series",
		// Sparse index of counters changed since the last rollup, so a rollup
		// reads only what changed.
		Indexes: []Index{{Name: DirtyGSI, PartitionKey: DirtyPK, SortKey: DirtySK}}},
	{Name: TableRules, Description: "failure-rule state: event windows, deadlines, cooldowns and rate tallies", TTL: TTL,
		Indexes: []Index{{Name: DueIndex, PartitionKey: DuePK, SortKey: DueSK}}},
	{Name: TableOutbound, Description: "outbound webhook deliveries, their attempts and the endpoints' state", TTL: TTL,
		// Deliveries by endpoint and status, newest first.
		Indexes: []Index{{Name: GSI1Index, PartitionKey: GSI1PK, SortKey: GSI1SK}}},
}

// BusRule routes events matching Pattern (EventBridge pattern syntax) to a function.
type BusRule struct {
	Name        string
	Description string
	Pattern     string
	Target      string
}

// BusRules is the bus routing table as it is with no outbound
// subscription; the stacks route with BusRulesFor their configuration.
var BusRules = []BusRule{
	{
		Name:        "interactions-to-journey",
		Description: "every normalised interaction advances customer and journey state",
		Pattern:     `{"source":["` + events.SourceIngest + `"]}`,
		Target:      Journey,
	},
	{
		Name:        "events-to-rules",
		Description: "interactions, journey events and intake tallies are checked against failure rules",
		Pattern:     `{"source":["` + events.SourceIngest + `","` + events.SourceJourney + `","` + events.SourceIntake + `"]}`,
		Target:      Rules,
	},
	{
		Name:        "failures-to-notify",
		Description: "detected failures join their notification groups; acknowledged and resolved ones update them",
		Pattern: `{"source":["` + events.SourceRules + `"],"detail-type":["` + events.TypeFailureDetected + `","` +
			events.TypeFailureAcknowledged + `","` + events.TypeFailureResolved + `"]}`,
		Target: Notify,
	},
	{
		Name:        "events-to-rollup",
		Description: "interactions, journey events and failure lifecycle events are counted into metric counters",
		Pattern:     `{"source":["` + events.SourceIngest + `","` + events.SourceJourney + `","` + events.SourceRules + `"]}`,
		Target:      Rollup,
	},
	{
		Name: OutboundBusRule,
		Description: "events an outbound webhook subscription matches are sent to it; " +
			"the API's replay requests are carried out",
		// As it is with no subscription; BusRulesFor adds the
		// subscriptions' patterns.
		Pattern: outboundReplayPattern,
		Target:  Outbound,
	},
}

// OutboundBusRule names the outbound function's bus rule. The function is
// invoked once per event it is handed, so its pattern is derived from the
// configured subscriptions (BusRulesFor) rather than naming whole sources.
const OutboundBusRule = "events-to-outbound"

// outboundReplayPattern matches the API's replay commands, the outbound
// function's only other business on the bus.
const outboundReplayPattern = `{"source":["` + events.SourceOutbound + `"],"detail-type":["` + events.TypeOutboundReplay + `"]}`

// MaxPatternLength is EventBridge's default quota on an event pattern, in
// characters (raised to 4096 only on request): a derived pattern longer
// than this would fail the deploy, so building the rules fails instead.
const MaxPatternLength = 2048

// BusRulesFor is BusRules with the outbound rule's pattern derived from the
// outbound subscriptions' patterns (OutboundPattern). The CDK app and the
// local stack both route with it, from the same configuration.
func BusRulesFor(outboundPatterns []string) ([]BusRule, error) {
	p, err := OutboundPattern(outboundPatterns)
	if err != nil {
		return nil, fmt.Errorf("bus rule %s: %w", OutboundBusRule, err)
	}
	out := slices.Clone(BusRules)
	for i := range out {
		if out[i].Name == OutboundBusRule {
			out[i].Pattern = p
		}
	}
	return out, nil
}

// OutboundPattern is the EventBridge pattern matching exactly the events
// one of the subscriptions' patterns (JSON) matches, and the replay
// commands. They are the alternatives of a top-level $or, which
// EventBridge allows, nested too; one left alone stands by itself, since
// $or takes two at least. Duplicates are dropped, and a pattern that is
// only a $or gives its alternatives, so the pattern stays short.
func OutboundPattern(subscriptions []string) (string, error) {
	var alts []any
	seen := map[string]bool{}
	add := func(alt any) error {
		b, err := compactJSON(alt)
		if err != nil {
			return err
		}
		if !seen[string(b)] {
			seen[string(b)] = true
			alts = append(alts, alt)
		}
		return nil
	}
	for _, p := range append([]string{outboundReplayPattern}, subscriptions...) {
		if _, err := eventpattern.Compile([]byte(p)); err != nil {
			return "", fmt.Errorf("pattern %s: %w", p, err)
		}
		d := json.NewDecoder(strings.NewReader(p))
		// Numbers stay as written, not rounded through float64.
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			return "", fmt.Errorf("pattern %s: %w", p, err)
		}
		if or, ok := m["$or"].([]any); ok && len(m) == 1 {
			for _, alt := range or {
				if err := add(alt); err != nil {
					return "", err
				}
			}
		} else if err := add(m); err != nil {
			return "", err
		}
	}
	var out any = alts[0]
	if len(alts) > 1 {
		out = map[string]any{"$or": alts}
	}
	b, err := compactJSON(out)
	if err != nil {
		return "", err
	}
	if n := utf8.RuneCount(b); n > MaxPatternLength {
		return "", fmt.Errorf("the outbound subscriptions' patterns make a pattern of %d characters, over EventBridge's %d: "+
			"merge subscriptions' patterns, or match on fewer fields", n, MaxPatternLength)
	}
	if _, err := eventpattern.Compile(b); err != nil {
		return "", fmt.Errorf("pattern %s: %w", b, err)
	}
	return string(b), nil
}

// compactJSON encodes v without spaces or HTML escapes, its keys sorted,
// so equal patterns encode alike and the length is what EventBridge counts.
func compactJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Schedule invokes a function periodically.
type Schedule struct {
	Name        string
	Description string
	Every       time.Duration
	Target      string
}

// Expression is the schedule in EventBridge rate() syntax.
func (s Schedule) Expression() string {
	m := int(s.Every / time.Minute)
	if m == 1 {
		return "rate(1 minute)"
	}
	return "rate(" + strconv.Itoa(m) + " minutes)"
}

// Schedules every stack runs.
var Schedules = []Schedule{
	{Name: "rollup", Description: "roll hourly counters up into metric series", Every: 5 * time.Minute, Target: Rollup},
	// Deadlines fire at their instant through the rules function's
	// wake-ups; this run sweeps up any wake-up that was lost, and is
	// what evaluates rate windows, so it stays every minute.
	{Name: "rule-timers", Description: "evaluate rate windows, publish failure events left behind, and fire deadlines whose wake-up was lost",
		Every: time.Minute, Target: Rules},
	// Groups are sent at their due instant through the notify function's
	// wake-ups; this is the safety sweep for a wake-up that was lost.
	{Name: "notify-flush", Description: "safety sweep: send notification groups whose wake-up was lost",
		Every: 5 * time.Minute, Target: Notify},
	// Outbound retries come back through the function's wake-ups; this
	// tries the deliveries whose wake-up was lost.
	{Name: "outbound-sweep", Description: "safety sweep: try outbound webhook deliveries whose wake-up was lost",
		Every: 15 * time.Minute, Target: Outbound},
}

// Auth says how an HTTP route is protected.
type Auth int

const (
	// Public routes are open; webhooks prove themselves by signature.
	Public Auth = iota
	// Analyst routes need IAM in AWS and a bearer token locally.
	Analyst
)

// Route is one HTTP API route.
type Route struct {
	Method string
	Path   string
	Target string
	Auth   Auth
	// Operator routes need the operator role besides an analyst's: they
	// cannot be taken back or touch raw data (erase a customer, undo a
	// merge, replay bad rows).
	Operator bool
}

// OperatorRoutes lists the operator routes as mux patterns
// ("DELETE /v1/customers/{id}"), for the guard and the console.
func OperatorRoutes() []string {
	var out []string
	for _, r := range Routes {
		if r.Operator {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// Routes of the HTTP API. Paths use API Gateway's {param} syntax.
var Routes = []Route{
	{Method: "POST", Path: "/v1/webhooks/{channel}", Target: Ingest, Auth: Public},
	{Method: "GET", Path: "/v1/badrows", Target: Ingest, Auth: Analyst},
	{Method: "POST", Path: "/v1/badrows/{id}/replay", Target: Ingest, Auth: Analyst, Operator: true},
	{Method: "POST", Path: "/v1/badrows/replay", Target: Ingest, Auth: Analyst, Operator: true},
	{Method: "GET", Path: "/v1/metrics/{name}", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/v1/channels", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/v1/channels/{id}", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/healthz", Target: API, Auth: Public},
	{Method: "GET", Path: "/v1/failures", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/v1/failures/{id}", Target: API, Auth: Analyst},
	{Method: "POST", Path: "/v1/failures/{id}/acknowledge", Target: API, Auth: Analyst},
	{Method: "POST", Path: "/v1/failures/{id}/resolve", Target: API, Auth: Analyst},
	{Method: "POST", Path: "/v1/failures/{id}/assign", Target: API, Auth: Analyst},
	{Method: "POST", Path: "/v1/failures/{id}/notes", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/v1/failures/{id}/loop", Target: API, Auth: Analyst},
	{Method: "POST", Path: "/v1/failures/{id}/contacted", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/v1/customers", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/v1/customers/{id}", Target: API, Auth: Analyst},
	{Method: "DELETE", Path: "/v1/customers/{id}", Target: API, Auth: Analyst, Operator: true},
	{Method: "POST", Path: "/v1/customers/{id}/unmerge", Target: API, Auth: Analyst, Operator: true},
	// An interaction's archived raw payload, by the reference it carries.
	{Method: "GET", Path: "/v1/raw", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/v1/identity/refused", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/v1/metrics", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/v1/openapi.json", Target: API, Auth: Public},
	// The console: its page and assets are public, its data comes from the
	// guarded routes above.
	{Method: "GET", Path: "/", Target: API, Auth: Public},
	{Method: "GET", Path: "/index.html", Target: API, Auth: Public},
	{Method: "GET", Path: "/assets/{file}", Target: API, Auth: Public},
	{Method: "GET", Path: "/v1/console/config", Target: API, Auth: Public},
	{Method: "POST", Path: "/v1/silences", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/v1/silences", Target: API, Auth: Analyst},
	{Method: "DELETE", Path: "/v1/silences/{id}", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/v1/deadletters", Target: API, Auth: Analyst},
	{Method: "POST", Path: "/v1/deadletters/redrive", Target: API, Auth: Analyst, Operator: true},
	// Slack's interactivity requests (Acknowledge, Resolve) prove
	// themselves by the Slack signing secret.
	{Method: "POST", Path: "/v1/slack/actions", Target: API, Auth: Public},
	// Outbound webhooks: endpoints, the delivery log and its attempts.
	// Enabling an endpoint and replaying deliveries send data out of
	// OCX again, so they are an operator's.
	{Method: "GET", Path: "/v1/outbound/endpoints", Target: API, Auth: Analyst},
	{Method: "POST", Path: "/v1/outbound/endpoints/{id}/enable", Target: API, Auth: Analyst, Operator: true},
	{Method: "POST", Path: "/v1/outbound/endpoints/{id}/replay-failed", Target: API, Auth: Analyst, Operator: true},
	{Method: "GET", Path: "/v1/outbound/deliveries", Target: API, Auth: Analyst},
	{Method: "GET", Path: "/v1/outbound/deliveries/{id}", Target: API, Auth: Analyst},
	{Method: "POST", Path: "/v1/outbound/deliveries/{id}/replay", Target: API, Auth: Analyst, Operator: true},
}

// Functions of the stack.
var Functions = []Function{
	{Name: Ingest, Description: "verify, dedupe, archive and normalise webhooks onto the bus",
		MemoryMB: 512, Timeout: 15 * time.Second, Tables: []string{TableIntake}, PutsEvents: true, Archive: true,
		Secrets: []string{SecretChannelPrefix}},
	{Name: Journey, Description: "resolve customers and record interactions and metric counters",
		MemoryMB: 256, Timeout: 30 * time.Second, Tables: []string{TableCustomers, TableMetrics}, PutsEvents: true, Bus: &journeyQueue},
	{Name: Rules, Description: "evaluate failure rules and publish failures",
		// The customers table is only read, to key per-customer rules on
		// the resolved customer.
		MemoryMB: 256, Timeout: 30 * time.Second, Tables: []string{TableFailures, TableRules, TableCustomers}, PutsEvents: true,
		Wakeups: true, Bus: &rulesQueue},
	// Notify also closes failures' loops: it opens their Zendesk tickets,
	// escalates missed follow-ups and announces outcomes on the bus.
	{Name: Notify, Description: "group failures and send them to their teams on Slack and email; open tickets and hold follow-ups",
		MemoryMB: 256, Timeout: 60 * time.Second, Tables: []string{TableFailures}, SendsEmail: true, PutsEvents: true,
		Secrets: []string{SecretSlackPrefix, SecretZendeskPrefix}, DeadLetters: true, Wakeups: true},
	{Name: Rollup, Description: "count bus events into metric counters and roll them up into hour, day, week and month buckets",
		MemoryMB: 512, Timeout: 5 * time.Minute,
		// Counted-event markers and contact and journey records live in the
		// customers table, which expires items.
		Tables: []string{TableMetrics, TableCustomers}, Bus: &rollupQueue},
	{Name: API, Description: "serve analysts' queries and Slack's acknowledge and resolve actions",
		MemoryMB: 256, Timeout: 10 * time.Second, Tables: []string{TableMetrics, TableFailures, TableCustomers, TableIntake, TableOutbound},
		// Erasing a customer overwrites its raw payloads in the archive.
		// Acknowledging or resolving from Slack announces the step on the
		// bus and reads the Slack signing secret.
		Archive: true, PutsEvents: true, Secrets: []string{SecretSlackPrefix}},
	{Name: Outbound, Description: "send OCX's events to subscribed endpoints as signed webhooks, retried for up to three days",
		// A wake-up batch's attempts run side by side, each bounded by
		// the outbound client's timeout, well inside this.
		MemoryMB: 256, Timeout: 60 * time.Second, Tables: []string{TableOutbound},
		// What is finally given up goes to its failures queue.
		Secrets: []string{SecretOutboundPrefix}, DeadLetters: true, Wakeups: true},
}

// Secret name prefixes in Secrets Manager. The stage is prepended by StageSecret.
const (
	SecretChannelPrefix = "channel/"
	SecretSlackPrefix   = "slack/"
	// SecretZendeskPrefix holds the Zendesk API credentials
	// (internal/zendesk.SecretName).
	SecretZendeskPrefix = "zendesk/"
	// SecretSlackSigning holds the Slack app's signing secret(s),
	// comma-separated during a rotation. No team's webhook may take its name.
	SecretSlackSigning = SecretSlackPrefix + "signing-secret"
	// SecretOutboundPrefix holds the outbound subscriptions' whsec_
	// signing secrets, each named by its subscription.
	SecretOutboundPrefix = "outbound/"
)

// Environment variables the functions read. The CDK app sets them; the local
// stack passes the same values in-process.
const (
	EnvStage         = "OCX_STAGE"
	EnvBusName       = "OCX_BUS_NAME"
	EnvArchiveBucket = "OCX_ARCHIVE_BUCKET"
	// EnvRawStreamPrefix is the start of the names of the channels'
	// raw-record delivery streams (RawStreamPrefix); a channel's id ends
	// its stream's name.
	EnvRawStreamPrefix = "OCX_RAW_STREAM_PREFIX"
	EnvSecretsPrefix   = "OCX_SECRETS_PREFIX"
	EnvEmailFrom       = "OCX_EMAIL_FROM"
	EnvAPIAuth         = "OCX_API_AUTH"
	EnvConfigDir       = "OCX_CONFIG_DIR"
	// EnvZoneinfo is where Go's time package finds the IANA time zone
	// database: Lambda's provided.al2023 image has none, so each
	// function's asset carries Go's own (ZoneinfoFile, beside its
	// bootstrap) rather than every binary embedding it.
	EnvZoneinfo = "ZONEINFO"
	// EnvDeadLetterQueue is the URL of the queue a function with
	// DeadLetters puts undeliverable work on.
	EnvDeadLetterQueue = "OCX_DEAD_LETTER_QUEUE"
	// EnvDeadLetterQueues lists every dead-letter queue (URLs or names,
	// comma-separated) for the API to list and redrive.
	EnvDeadLetterQueues = "OCX_DEAD_LETTER_QUEUES"
	// EnvMetricAttributes names the interaction attributes that are
	// customer dimensions of the metrics (comma-separated); the rollup and
	// the API must agree on it.
	EnvMetricAttributes = "OCX_METRIC_ATTRIBUTES"
	// EnvWakeupQueue is the URL of a function's wake-up queue (Wakeups).
	EnvWakeupQueue = "OCX_WAKEUP_QUEUE"
	// EnvOutboundURL is what the shipped outbound subscription's url
	// refers to (${OCX_OUTBOUND_URL}); unset, that subscription is inactive.
	EnvOutboundURL = "OCX_OUTBOUND_URL"
)

// ZoneinfoFile is the time zone database in each function's asset.
const ZoneinfoFile = "zoneinfo.zip"

// ZoneinfoInLambda is where Lambda puts it: the asset is /var/task.
const ZoneinfoInLambda = "/var/task/" + ZoneinfoFile

// RawStreamPrefix starts the name of every channel's raw-record delivery
// stream in a stage, e.g. "ocx-prod-raw-".
func RawStreamPrefix(stage string) string { return "ocx-" + stage + "-raw-" }

// RawStreamName names the Amazon Data Firehose delivery stream that keeps a
// channel's raw webhooks, e.g. "ocx-prod-raw-stripe". Firehose allows 64
// characters; the CDK app refuses a channel id that makes it longer.
func RawStreamName(stage, channel string) string { return RawStreamPrefix(stage) + channel }

// RawObjectPrefix is where a channel's stream delivers in the archive
// bucket. There is no dynamic partitioning: Firehose appends its default
// UTC "YYYY/MM/DD/HH/" (the arrival hour of the object's oldest record),
// which the emulator writes too.
func RawObjectPrefix(channel string) string { return "raw/" + channel + "/" }

// RawErrorPrefix is where a channel's stream puts what it could not
// deliver, by Firehose's error type.
func RawErrorPrefix(channel string) string {
	return "raw-errors/" + channel + "/!{firehose:error-output-type}/"
}

// The raw streams' buffering: Firehose writes an object when 128 MB (its
// largest buffer) have come in or 300 seconds have passed. A record is
// durable once put, so buffering costs only the time before it can be read
// back or erased; fewer, larger objects are fewer S3 requests to write and
// to scan. Five minutes, not Firehose's longest fifteen, keeps that wait
// short for an operator replaying a bad row or erasing a customer, and
// keeps a record within the hour before its reference's.
const (
	RawBufferMB      = 128
	RawBufferSeconds = 300
)

// RawLargePrefix holds, one object each, the raw records over Firehose's
// record limit; ClaimPrefix the claim-checked events (ingest.ClaimKey).
const (
	RawLargePrefix = "raw-large/"
	ClaimPrefix    = "claims/"
)

// TableEnv is the environment variable holding the physical name of a table,
// e.g. OCX_TABLE_INTAKE.
func TableEnv(logical string) string { return "OCX_TABLE_" + strings.ToUpper(logical) }

// FunctionByName returns the named function and whether it exists.
func FunctionByName(name string) (Function, bool) {
	for _, f := range Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}
