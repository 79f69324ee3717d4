package archive_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ocxhq/ocx/internal/archive"
	"github.com/ocxhq/ocx/internal/motoserver/mototest"
	"github.com/ocxhq/ocx/internal/rawstream"
	"github.com/ocxhq/ocx/internal/topology"
)

func TestMain(m *testing.M) { mototest.Main(m) }

var seq atomic.Int64

// fixture is one test's bucket, with a delivery stream for channel
// "stripe" made as the local stack makes it.
type fixture struct {
	s3     *s3.Client
	bucket string
	arch   *rawstream.Archive
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	cfg := mototest.Config(t)
	n := seq.Add(1)
	f := fixture{s3: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), bucket: fmt.Sprintf("a%d-archive", n)}
	if _, err := f.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(f.bucket)}); err != nil {
		t.Fatal(err)
	}
	fh := firehose.NewFromConfig(cfg)
	objects := archive.New(f.s3, f.bucket).WithStreams(topology.RawStreamPrefix(fmt.Sprintf("a%d", n)))
	f.arch = &rawstream.Archive{S3: objects, Writer: rawstream.New(fh, objects)}
	_, err := fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String(f.arch.Stream("stripe")),
		DeliveryStreamType: fhtypes.DeliveryStreamTypeDirectPut,
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN:         aws.String("arn:aws:s3:::" + f.bucket),
			RoleARN:           aws.String("arn:aws:iam::123456789012:role/firehose"),
			Prefix:            aws.String(topology.RawObjectPrefix("stripe")),
			CompressionFormat: fhtypes.CompressionFormatGzip,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// put writes an object as AWS's delivery stream would: the records'
// lines concatenated, gzipped, under the hour folder of at.
func (f fixture) put(t *testing.T, at time.Time, gz bool, lines ...string) string {
	t.Helper()
	key := topology.RawObjectPrefix("stripe") + at.UTC().Format("2006/01/02/15/") + f.arch.Stream("stripe") + "-1-" +
		at.UTC().Format("2006-01-02-15-04-05") + fmt.Sprintf("-%d", seq.Add(1))
	body := []byte(strings.Join(lines, ""))
	if gz {
		key += ".gz"
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = b.Bytes()
	}
	if _, err := f.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	return key
}

func (f fixture) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := f.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return b
}

// A record put through the channel's stream reads back, without its id,
// from the folder the emulator wrote it to.
func TestAppendThenGet(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rec := `{"channel":"stripe","url":"https://ocx.example.com/v1/webhooks/stripe","header":{"Stripe-Signature":["t=1,v1=x"]},"body":"eyJpZCI6ImV2dF8xIn0="}`
	ref, err := f.arch.Append(ctx, "stripe", "rec-1", []byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, "firehose://"+f.arch.Stream("stripe")+"/"+time.Now().UTC().Format("2006/01/02/")) || !strings.HasSuffix(ref, "/rec-1") {
		t.Fatalf("reference %q", ref)
	}
	if !f.arch.Holds(ref) {
		t.Fatalf("archive does not hold its own reference %q", ref)
	}
	// Another record in the same folder is not mistaken for it.
	if _, err := f.arch.Append(ctx, "stripe", "rec-10", []byte(`{"channel":"stripe","body":"b3RoZXI="}`)); err != nil {
		t.Fatal(err)
	}
	got, err := f.arch.Get(ctx, ref)
	if err != nil || string(got) != rec {
		t.Fatalf("got %s, %v; want %s", got, err, rec)
	}
	// Claim checks and old raw payloads stay objects with s3:// URIs.
	uri, err := f.arch.Put(ctx, "claims/stripe/2026/11/23/evt_1.json", []byte(`{"id":"evt_1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.arch.Get(ctx, uri); err != nil || string(got) != `{"id":"evt_1"}` {
		t.Fatalf("object: %s, %v", got, err)
	}
}

// AWS's objects are gzipped; a record in one reads back the same, and so
// does a record delivered in the hour before its reference's (the object
// is filed by its oldest record) or after it (clock skew).
func TestGetFindsGzippedRecordsInNeighbouringHours(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	hour := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	f.put(t, hour.Add(-3*time.Minute), true,
		`{"record_id":"early","channel":"stripe","body":"YQ=="}`+"\n",
		`{"record_id":"mine","channel":"stripe","body":"Yg=="}`+"\n")
	f.put(t, hour.Add(time.Hour+time.Minute), false, `{"record_id":"late","channel":"stripe","body":"Yw=="}`+"\n")
	stream := f.arch.Stream("stripe")
	for id, want := range map[string]string{"mine": `{"channel":"stripe","body":"Yg=="}`, "late": `{"channel":"stripe","body":"Yw=="}`} {
		got, err := f.arch.Get(ctx, archive.RecordRef(stream, hour.Add(10*time.Minute), id))
		if err != nil || string(got) != want {
			t.Errorf("%s: got %s, %v; want %s", id, got, err, want)
		}
	}
	// Two hours away is out of reach, by design.
	if _, err := f.arch.Get(ctx, archive.RecordRef(stream, hour.Add(2*time.Hour), "mine")); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("two hours away: %v", err)
	}
}

// Erasure rewrites, at its own key and compressed as it was, only the
// objects holding the record, and in them only the record's lines.
func TestEraseRewritesOnlyTheRecord(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	hour := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	other := `{"record_id":"other","channel":"stripe","body":"Ym9i"}` + "\n"
	gzKey := f.put(t, hour.Add(-time.Minute), true, other, `{"record_id":"ann","channel":"stripe","body":"YW5u"}`+"\n")
	// A redelivery put the record twice.
	plainKey := f.put(t, hour.Add(2*time.Minute), false, `{"record_id":"ann","channel":"stripe","body":"YW5u"}`+"\n")
	untouched := f.put(t, hour.Add(3*time.Minute), false, other)
	ref := archive.RecordRef(f.arch.Stream("stripe"), hour, "ann")
	tomb := `{"erased":true,"erasure_id":"ers_1"}`
	if err := f.arch.Erase(ctx, ref, []byte(tomb)); err != nil {
		t.Fatal(err)
	}
	gz := f.get(t, gzKey)
	if len(gz) < 2 || gz[0] != 0x1f || gz[1] != 0x8b {
		t.Fatalf("gzipped object rewritten uncompressed: %q", gz)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	lines, _ := io.ReadAll(zr)
	want := other + `{"record_id":"ann","erased":true,"erasure_id":"ers_1"}` + "\n"
	if string(lines) != want {
		t.Fatalf("gzipped object:\n%s\nwant:\n%s", lines, want)
	}
	if got := string(f.get(t, plainKey)); got != `{"record_id":"ann","erased":true,"erasure_id":"ers_1"}`+"\n" {
		t.Fatalf("plain object: %s", got)
	}
	if got := string(f.get(t, untouched)); got != other {
		t.Fatalf("object without the record changed: %s", got)
	}
	if got, err := f.arch.Get(ctx, ref); err != nil || string(got) != tomb {
		t.Fatalf("erased record reads %s, %v; want the tombstone", got, err)
	}
	if got, err := f.arch.Get(ctx, archive.RecordRef(f.arch.Stream("stripe"), hour, "other")); err != nil || string(got) != `{"channel":"stripe","body":"Ym9i"}` {
		t.Fatalf("bystander: %s, %v", got, err)
	}
	// A record not delivered yet cannot be erased yet: the erasure fails
	// and is asked again.
	if err := f.arch.Erase(ctx, archive.RecordRef(f.arch.Stream("stripe"), hour, "buffered"), []byte(tomb)); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("erase of an undelivered record: %v", err)
	}
}

// References that name nothing of this archive fail clearly.
func TestUnknownReferences(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	hour := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		ref, want string
	}{
		{archive.RecordRef("someone-elses-raw-stripe", hour, "x"), "not one of this archive's"},
		{"firehose://" + f.arch.Stream("stripe") + "/2026/11/23/x", "is not a firehose://"},
		{"firehose://" + f.arch.Stream("stripe") + "/2026/13/23/08/00/00/x", "bad time"},
		{"firehose://" + f.arch.Stream("stripe") + "/2026/11/23/08/00/00/../x", "is not a firehose://"},
		{"s3://other-bucket/raw/x.json", "is not in bucket"},
		{archive.RecordRef(f.arch.Stream("stripe"), hour, "nowhere"), archive.ErrNotFound.Error()},
	} {
		_, err := f.arch.Get(ctx, c.ref)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.ref, err, c.want)
		}
		if c.want != archive.ErrNotFound.Error() && f.arch.Holds(c.ref) {
			t.Errorf("%s: held", c.ref)
		}
	}
	if _, err := f.arch.Append(ctx, "stripe", "a/b", []byte(`{}`)); err == nil {
		t.Error("record id with a slash accepted")
	}
	if _, err := f.arch.Append(ctx, "stripe", "x", []byte(`[1]`)); err == nil {
		t.Error("record that is not a JSON object accepted")
	}
	// A stream that does not exist is an error the caller answers 503 to.
	if _, err := f.arch.Append(ctx, "nochannel", "x", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), f.arch.Stream("nochannel")) {
		t.Errorf("append to a missing stream: %v", err)
	}
}
