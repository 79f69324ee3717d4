package motoserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// Meter counts the AWS requests that pass the proxy, by service and
// action, and the DynamoDB items they touch — the figures cost follows.
type Meter struct {
	mu     sync.Mutex
	counts map[string]int
	// exact measures write units at moto (MeasureWrites), from what
	// CreateTable told of each table.
	exact  bool
	tables map[string]schema
}

func (m *Meter) add(k string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]int{}
	}
	m.counts[k] += n
}

// Snapshot returns the counts so far.
func (m *Meter) Snapshot() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(m.counts))
	for k, v := range m.counts {
		out[k] = v
	}
	return out
}

// Reset zeroes the counts.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts = nil
}

// Keys lists counted keys, sorted.
func Keys(c map[string]int) []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// record classifies one request. JSON-protocol services name the action in
// X-Amz-Target; REST ones (S3, SES v2) by method and path.
func (m *Meter) record(r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/moto-api") {
		return
	}
	target := r.Header.Get("X-Amz-Target")
	if service, action, ok := strings.Cut(target, "."); ok {
		name := map[string]string{
			"DynamoDB_20120810": "dynamodb", "AWSEvents": "eventbridge", "secretsmanager": "secretsmanager",
			"AmazonSQS": "sqs", "AWSStepFunctions": "sfn", "Firehose_20150804": "firehose",
		}[service]
		if name == "" {
			name = service
		}
		m.add(name+" "+action, 1)
		if name == "dynamodb" && action == "CreateTable" {
			m.learnTable(peek(r))
		}
		if name == "dynamodb" {
			m.dynamoItems(action, r)
		}
		if name == "eventbridge" && action == "PutEvents" {
			m.putEventsEntries(r)
		}
		if name == "firehose" {
			m.firehoseRecords(r)
		}
		return
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/v2/email/outbound-emails"):
		m.add("sesv2 SendEmail", 1)
	case r.Method == http.MethodPut:
		m.add("s3 PutObject", 1)
	case r.Method == http.MethodGet:
		m.add("s3 GetObject", 1)
	case r.Method == http.MethodDelete:
		m.add("s3 DeleteObject", 1)
	default:
		m.add("other "+r.Method, 1)
	}
}

// dynamoItems counts items written and read, for capacity units: a
// transactional write costs two write units per item.
func (m *Meter) dynamoItems(action string, r *http.Request) {
	body := peek(r)
	var in struct {
		TransactItems []json.RawMessage
		RequestItems  map[string]json.RawMessage
	}
	_ = json.Unmarshal(body, &in)
	// Measured writes are counted by their probe (writes.go).
	estimate := !m.measuring()
	switch action {
	case "PutItem", "UpdateItem", "DeleteItem":
		m.add("dynamodb items written", 1)
		if estimate {
			u := writeUnits(body)
			m.add(WriteUnits, u)
			m.add(writeKind(body, action), u)
		}
	case "TransactWriteItems":
		m.add("dynamodb items written (transactional)", len(in.TransactItems))
		for _, raw := range in.TransactItems {
			if !estimate {
				break
			}
			var op map[string]json.RawMessage
			_ = json.Unmarshal(raw, &op)
			for name, inner := range op {
				u := 2 * writeUnits(inner)
				m.add(WriteUnits, u)
				m.add(writeKind(inner, "Transact"+name), u)
			}
		}
	case "GetItem":
		m.add("dynamodb items read", 1)
	case "BatchGetItem":
		for _, raw := range in.RequestItems {
			var ka struct{ Keys []json.RawMessage }
			_ = json.Unmarshal(raw, &ka)
			m.add("dynamodb items read", len(ka.Keys))
		}
	}
}

// WriteUnits counts DynamoDB write request units: a put is charged one per
// started KB of the item it writes (two inside a transaction); an update
// or delete, charged on the item as stored, is taken as one (the request
// does not carry the stored item's size).
const WriteUnits = "dynamodb write units"

// writeUnits is what one write operation (PutItem's or a transaction's
// Put, Update, Delete or ConditionCheck) is charged outside a transaction.
func writeUnits(op []byte) int {
	var in struct {
		Item map[string]json.RawMessage
	}
	_ = json.Unmarshal(op, &in)
	if in.Item == nil {
		return 1
	}
	return max(1, (ItemSize(in.Item)+1023)/1024)
}

// ItemSize is an item's size as DynamoDB counts it: each attribute's name
// and value, strings and binaries by their bytes, numbers by about one
// byte per two digits plus one, lists and maps with three bytes of their
// own and one per element.
func ItemSize(item map[string]json.RawMessage) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(raw json.RawMessage) int {
	var v map[string]json.RawMessage
	if json.Unmarshal(raw, &v) != nil {
		return 0
	}
	for typ, val := range v {
		switch typ {
		case "S":
			var s string
			_ = json.Unmarshal(val, &s)
			return len(s)
		case "N":
			var s string
			_ = json.Unmarshal(val, &s)
			return (len(strings.TrimLeft(s, "-0."))+1)/2 + 1
		case "B":
			var b []byte
			_ = json.Unmarshal(val, &b)
			return len(b)
		case "BOOL", "NULL":
			return 1
		case "SS", "NS", "BS":
			var ss []string
			_ = json.Unmarshal(val, &ss)
			t := 0
			for _, e := range ss {
				t += len(e)
			}
			return t
		case "L":
			var l []json.RawMessage
			_ = json.Unmarshal(val, &l)
			t := 3
			for _, e := range l {
				t += 1 + valueSize(e)
			}
			return t
		case "M":
			var m map[string]json.RawMessage
			_ = json.Unmarshal(val, &m)
			t := 3
			for k, e := range m {
				t += 1 + len(k) + valueSize(e)
			}
			return t
		}
	}
	return 0
}

// WritePrefix starts the keys that count write units by table, item kind
// (its partition key up to the first '#' or '_') and action.
const WritePrefix = "dynamodb write units: "

// writeKind names what one write touches, for WritePrefix's keys.
func writeKind(op []byte, action string) string {
	var in struct {
		TableName string
		Item      map[string]map[string]any
		Key       map[string]map[string]any
	}
	_ = json.Unmarshal(op, &in)
	attrs := in.Item
	if attrs == nil {
		attrs = in.Key
	}
	kind := "?"
	if pk, ok := attrs["pk"]["S"].(string); ok {
		kind = pk
		if i := strings.IndexAny(pk, "#_"); i > 0 {
			kind = pk[:i]
		}
	}
	return WritePrefix + in.TableName + " " + kind + " " + action
}

func (m *Meter) putEventsEntries(r *http.Request) {
	var in struct{ Entries []json.RawMessage }
	_ = json.Unmarshal(peek(r), &in)
	m.add("eventbridge events put", len(in.Entries))
}

// FirehoseUnits counts what Data Firehose bills ingestion by: each record
// rounded up to a multiple of 5 KB.
const FirehoseUnits = "firehose 5KB units"

// firehoseRecords counts the 5 KB units of a PutRecord or PutRecordBatch.
func (m *Meter) firehoseRecords(r *http.Request) {
	var in struct {
		Record  struct{ Data []byte }
		Records []struct{ Data []byte }
	}
	_ = json.Unmarshal(peek(r), &in)
	recs := append(in.Records, in.Record)
	for _, rec := range recs {
		if len(rec.Data) > 0 {
			m.add(FirehoseUnits, (len(rec.Data)+5119)/5120)
			m.add("firehose records", 1)
		}
	}
}

// peek reads the body and puts it back for the proxy.
func peek(r *http.Request) []byte {
	if r.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b
}
