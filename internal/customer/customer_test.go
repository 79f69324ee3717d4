package customer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/dynamo/customerstore"
	"github.com/ocxhq/ocx/internal/dynamo/journeystore"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/archive"
	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/dynamo"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/rawstream"
	"github.com/ocxhq/ocx/internal/topology"
)

func TestMain(m *testing.M) { mototest.Main(m) }

const token = "test-token"

var seq atomic.Int64

// stack is one test's tables, bucket, services and HTTP server.
type stack struct {
	ddb     *dynamodb.Client
	s3      *s3.Client
	names   map[string]string
	bucket  string
	journey *journey.Service
	srv     *httptest.Server
	// arch keeps raw records through the emulator's delivery streams,
	// one per channel, made on first use.
	arch    *rawstream.Archive
	fh      *firehose.Client
	streams map[string]bool
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	cfg := mototest.Config(t)
	st := &stack{ddb: dynamodb.NewFromConfig(cfg), s3: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), names: map[string]string{},
		fh: firehose.NewFromConfig(cfg), streams: map[string]bool{}}
	n := seq.Add(1)
	for _, tb := range topology.Tables {
		st.names[tb.Name] = fmt.Sprintf("c%d-%s", n, tb.Name)
	}
	if err := dynamo.CreateTables(ctx, st.ddb, st.names); err != nil {
		t.Fatal(err)
	}
	st.bucket = fmt.Sprintf("c%d-archive", n)
	if _, err := st.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(st.bucket)}); err != nil {
		t.Fatal(err)
	}
	objects := archive.New(st.s3, st.bucket).WithStreams(fmt.Sprintf("c%d-raw-", n))
	st.arch = &rawstream.Archive{S3: objects, Writer: rawstream.New(st.fh, objects)}
	defs, err := journey.Load(config.Shipped, "journeys", nil)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := journey.NewCatalog(defs)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := journeystore.NewCustomers(st.ddb, st.names[topology.TableCustomers], st.names[topology.TableMetrics])
	st.journey = &journey.Service{Store: store, Journeys: cat, Retention: 30 * 24 * time.Hour, Now: time.Now, Log: log}
	svc := &customer.Service{
		Store: customerstore.New(st.ddb, st.names[topology.TableCustomers]), Failures: customerstore.NewCustomerFailures(st.ddb, st.names[topology.TableFailures]),
		Archive: st.arch, Now: time.Now, Log: log,
	}
	mux := http.NewServeMux()
	customer.Routes(mux, svc, httpauth.Guard{Token: token})
	st.srv = httptest.NewServer(mux)
	t.Cleanup(st.srv.Close)
	return st
}

// deliver archives a raw payload like ingest does and applies its events:
// as a record of the channel's delivery stream, or, every other call, as
// an object of its own, as raw payloads were kept before the streams.
func (st *stack) deliver(t *testing.T, raw string, evs ...events.Interaction) {
	t.Helper()
	ctx := context.Background()
	n := seq.Add(1)
	var uri string
	var err error
	if n%2 == 0 {
		uri, err = st.arch.Put(ctx, fmt.Sprintf("raw/test/%d.json", n), []byte(raw))
	} else {
		rec, _ := json.Marshal(map[string]string{"channel": evs[0].Channel, "text": raw})
		uri, err = st.appendRecord(t, evs[0].Channel, fmt.Sprintf("rec%d", n), rec)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		ev.Raw = uri
		if err := st.journey.Apply(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
}

// appendRecord puts a raw record to channel's delivery stream, made on
// first use as the local stack makes it.
func (st *stack) appendRecord(t *testing.T, channel, id string, rec []byte) (string, error) {
	t.Helper()
	ctx := context.Background()
	stream := st.arch.Stream(channel)
	if !st.streams[channel] {
		_, err := st.fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
			DeliveryStreamName: aws.String(stream),
			DeliveryStreamType: fhtypes.DeliveryStreamTypeDirectPut,
			ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
				BucketARN: aws.String("arn:aws:s3:::" + st.bucket),
				RoleARN:   aws.String("arn:aws:iam::123456789012:role/firehose"),
				Prefix:    aws.String(topology.RawObjectPrefix(channel)),
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		st.streams[channel] = true
	}
	return st.arch.Append(ctx, channel, id, rec)
}

func ev(typ, channel string, c events.Customer, attrs map[string]any) events.Interaction {
	if attrs == nil {
		attrs = map[string]any{}
	}
	at := time.Now().UTC().Add(-time.Minute)
	return events.Interaction{
		ID: fmt.Sprintf("evt_%026x", seq.Add(1)), Type: typ, Channel: channel, OccurredAt: at, ReceivedAt: at,
		Customer: c, Attributes: attrs, DeliveryID: "d",
	}
}

func (st *stack) call(t *testing.T, method, path string, auth bool, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, st.srv.URL+path, nil)
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, body, err)
		}
	}
	return resp.StatusCode
}

var ann = events.Customer{ID: "115310627314723954", Email: "ann@example.com", Phone: "+14017122661"}

func TestReadingACustomer(t *testing.T) {
	st := newStack(t)
	st.deliver(t, `{"order":1}`, ev("order.created", "shopify", ann, map[string]any{"order_id": "1001"}))
	var v customer.View
	if code := st.call(t, "GET", "/v1/customers?key=email:Ann@Example.com", true, &v); code != 200 {
		t.Fatalf("lookup by email: %d", code)
	}
	if len(v.Identities) != 3 || len(v.Journeys) != 1 || v.Journeys[0].Stage != "placed" || len(v.Interactions) != 1 {
		t.Fatalf("view %+v", v)
	}
	cases := []struct {
		name   string
		method string
		path   string
		auth   bool
		want   int
	}{
		{"by id", "GET", "/v1/customers/" + v.ID, true, 200},
		{"by phone, loosely written", "GET", "/v1/customers?key=" + "phone:%2B1%20401%20712%202661", true, 200},
		{"by provider id", "GET", "/v1/customers?key=shopify:115310627314723954", true, 200},
		{"no token", "GET", "/v1/customers/" + v.ID, false, 401},
		{"unknown id", "GET", "/v1/customers/cus_00", true, 404},
		{"unknown key", "GET", "/v1/customers?key=email:bob@example.com", true, 404},
		{"not an id", "GET", "/v1/customers/ann", true, 400},
		{"not a key", "GET", "/v1/customers?key=ann@example.com", true, 400},
		{"no key", "GET", "/v1/customers", true, 400},
		{"too many interactions", "GET", "/v1/customers/" + v.ID + "?interactions=100000", true, 400},
		{"unmerge of a customer never merged", "POST", "/v1/customers/" + v.ID + "/unmerge", true, 409},
		{"erase without a token", "DELETE", "/v1/customers/" + v.ID, false, 401},
		{"erase with a reference that could hold an address", "DELETE", "/v1/customers/" + v.ID + "?request_ref=ann@example.com", true, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body map[string]any
			if code := st.call(t, c.method, c.path, c.auth, &body); code != c.want {
				t.Fatalf("%s %s = %d %v, want %d", c.method, c.path, code, body, c.want)
			}
			if c.want >= 400 {
				if e, _ := body["error"].(map[string]any); e == nil || e["message"] == "" {
					t.Fatalf("error body %v", body)
				}
			}
		})
	}
}

// personal is what must not survive an erasure anywhere.
var personal = []string{"ann@example.com", "4017122661", "115310627314723954", "8447388090495", "Ann's"}

func TestErasureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	st := newStack(t)
	// Two customers (a ticket by email, an SMS by phone) merged by an
	// order, a failure about one of them, raw payloads for each; and a
	// bystander whose event shared a batched delivery.
	st.deliver(t, `{"ticket":"Ann's printer","email":"ann@example.com"}`,
		ev("ticket.created", "zendesk", events.Customer{ID: "8447388090495", Email: "ann@example.com"}, map[string]any{"ticket_id": "5158"}))
	st.deliver(t, `From=%2B14017122661&Body=where+is+my+order`, ev("message.received", "twilio", events.Customer{Phone: "+14017122661"}, nil))
	bob := ev("email.delivered", "sendgrid", events.Customer{Email: "bob@example.com"}, nil)
	st.deliver(t, `[{"email":"ann@example.com"},{"email":"bob@example.com"}]`,
		ev("email.delivered", "sendgrid", events.Customer{Email: "ann@example.com"}, nil), bob)
	order := ev("order.created", "shopify", ann, map[string]any{"order_id": "1001"})
	st.deliver(t, `{"order":1001,"email":"ann@example.com"}`, order)
	putFailure(t, st, "flr_0123456789abcdef01234567", events.Customer{Email: "ann@example.com"})
	putFailure(t, st, "flr_bbbbbbbbbbbbbbbbbbbbbbbb", events.Customer{Email: "bob@example.com"})

	var v customer.View
	st.call(t, "GET", "/v1/customers?key=phone:%2B14017122661", true, &v)
	if len(v.Merges) != 1 || len(v.Failures) != 1 {
		t.Fatalf("before erasure: merges %d, failures %d; want 1 and 1", len(v.Merges), len(v.Failures))
	}

	var res customer.ErasureResponse
	if code := st.call(t, "DELETE", "/v1/customers/"+v.ID+"?request_ref=DSAR-42", true, &res); code != 200 {
		t.Fatalf("erase: %d %+v", code, res)
	}
	e := res.Erasure
	if e.State != customer.ErasureCompleted || len(e.CustomerIDs) != 2 || e.Counts.Interactions != 4 || e.Counts.RawObjects != 4 ||
		e.Counts.Journeys != 2 || e.Counts.Failures != 1 || e.Counts.IdentityKeys != 4 || e.RequestRef != "DSAR-42" {
		t.Fatalf("audit record %+v", e)
	}
	b, _ := json.Marshal(e)
	mustNotHold(t, "the audit record", string(b))

	// Nothing personal is left in any table; the audit record is.
	audits := 0
	for logical, table := range st.names {
		for _, it := range scan(t, st, table) {
			b, _ := json.Marshal(it)
			mustNotHold(t, logical+" item "+string(b), string(b))
			if pk, _ := it[topology.PK].(string); strings.HasPrefix(pk, "erased#") {
				audits++
			}
		}
	}
	if audits != len(e.CustomerIDs) {
		t.Errorf("%d audit items, want one per erased customer id (%d)", audits, len(e.CustomerIDs))
	}
	// Raw payloads are tombstones now, the shared batch included.
	objs, err := st.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(st.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs.Contents {
		out, err := st.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(st.bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(out.Body)
		out.Body.Close()
		mustNotHold(t, "raw object "+aws.ToString(o.Key), string(body))
		if !strings.Contains(string(body), e.ID) {
			t.Errorf("raw object %s is not a tombstone of %s: %s", aws.ToString(o.Key), e.ID, body)
		}
	}
	// The bystander keeps its record and its failure.
	var vb customer.View
	if code := st.call(t, "GET", "/v1/customers?key=email:bob@example.com", true, &vb); code != 200 || len(vb.Interactions) != 1 || len(vb.Failures) != 1 {
		t.Fatalf("bystander after erasure: %d %+v", code, vb)
	}

	// The erased id answers 410 with the audit record; erasing again
	// returns the same record; a redelivered event brings nothing back.
	var gone struct {
		Erasure customer.Erasure `json:"erasure"`
	}
	if code := st.call(t, "GET", "/v1/customers/"+v.ID, true, &gone); code != 410 || gone.Erasure.ID != e.ID {
		t.Fatalf("GET erased: %d %+v", code, gone)
	}
	var again customer.ErasureResponse
	if code := st.call(t, "DELETE", "/v1/customers/"+v.ID, true, &again); code != 200 || again.Erasure.ID != e.ID {
		t.Fatalf("erase again: %d %+v", code, again)
	}
	if err := st.journey.Apply(ctx, order); err != nil {
		t.Fatal(err)
	}
	if code := st.call(t, "GET", "/v1/customers?key=email:ann@example.com", true, nil); code != 404 {
		t.Fatalf("a redelivered erased event brought the customer back: %d", code)
	}
}

func mustNotHold(t *testing.T, what, s string) {
	t.Helper()
	for _, p := range personal {
		if strings.Contains(s, p) {
			t.Errorf("%s still holds %q", what, p)
		}
	}
}

func scan(t *testing.T, st *stack, table string) []map[string]any {
	t.Helper()
	out, err := st.ddb.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	for _, it := range out.Items {
		m := map[string]any{}
		for k, v := range it {
			switch x := v.(type) {
			case *ddb.AttributeValueMemberS:
				m[k] = x.Value
			case *ddb.AttributeValueMemberSS:
				m[k] = x.Value
			case *ddb.AttributeValueMemberN:
				m[k] = x.Value
			}
		}
		items = append(items, m)
	}
	return items
}

// putFailure stores a failure record the way the rules function does.
func putFailure(t *testing.T, st *stack, id string, c events.Customer) {
	t.Helper()
	now := time.Now().UTC()
	f := events.Failure{
		ID: id, RuleID: "nps.detractor", Description: "d", Severity: "warning", Team: "cx-support", CustomerID: c.Email,
		Labels: map[string]string{}, DetectedAt: now, State: "open",
		Evidence: []events.Evidence{{EventID: "evt_1", Type: "survey.responded", Channel: "app", OccurredAt: now, Customer: c}},
	}
	body, _ := json.Marshal(f)
	_, err := st.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(st.names[topology.TableFailures]),
		Item: map[string]ddb.AttributeValue{
			topology.PK: &ddb.AttributeValueMemberS{Value: "failure#" + id}, topology.SK: &ddb.AttributeValueMemberS{Value: "failure"},
			"failure": &ddb.AttributeValueMemberS{Value: string(body)}, "state": &ddb.AttributeValueMemberS{Value: "open"},
			topology.GSI1PK: &ddb.AttributeValueMemberS{Value: "failures"},
			topology.GSI1SK: &ddb.AttributeValueMemberS{Value: now.Format(time.RFC3339Nano) + "#" + id},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An interaction's raw payload is read back by the reference it carries,
// and nothing outside the archive bucket is.
func TestRawPayload(t *testing.T) {
	st := newStack(t)
	uri, err := archive.New(st.s3, st.bucket).Put(context.Background(), "raw/test/raw.json", []byte(`{"body":"{\"score\":3}"}`))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if code := st.call(t, "GET", "/v1/raw?ref="+url.QueryEscape(uri), true, &got); code != 200 || got["body"] != `{"score":3}` {
		t.Fatalf("raw: %d %v", code, got)
	}
	// A record of a channel's delivery stream reads back without its id.
	rec, err := st.appendRecord(t, "test", "r1", []byte(`{"body":"{\"score\":4}"}`))
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	if code := st.call(t, "GET", "/v1/raw?ref="+url.QueryEscape(rec), true, &got); code != 200 || got["body"] != `{"score":4}` || len(got) != 1 {
		t.Fatalf("raw record: %d %v", code, got)
	}
	for _, c := range []struct {
		ref  string
		auth bool
		want int
	}{
		{uri, false, 401},
		{"s3://other-bucket/raw/x.json", true, 400},
		{"s3://" + st.bucket + "/../x", true, 400},
		{"", true, 400},
		{"s3://" + st.bucket + "/raw/missing.json", true, 404},
		{rec, false, 401},
		{"firehose://other-raw-test/2026/11/23/08/r1", true, 400},
		{strings.TrimSuffix(rec, "/r1") + "/missing", true, 404},
	} {
		if code := st.call(t, "GET", "/v1/raw?ref="+url.QueryEscape(c.ref), c.auth, nil); code != c.want {
			t.Errorf("%q (auth %v): %d, want %d", c.ref, c.auth, code, c.want)
		}
	}
}
