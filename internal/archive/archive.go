// Package archive keeps every verified webhook exactly as received in S3, so
// any event can be traced to, and rebuilt from, its raw payload, and keeps
// the claim-checked events too large for the bus.
//
// Raw webhooks reach the bucket in bulk through one Amazon Data Firehose
// delivery stream per channel (written by internal/rawstream, laid out as
// firehose.go says): a record is durable once PutRecord succeeds, and an
// event names it by a firehose:// reference.
// Claim-checked events, which consumers read back one at a time, and raw
// records over Firehose's record limit stay single objects named by s3://
// references, as every raw payload was before; both kinds stay readable.
package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ocxhq/ocx/internal/topology"
)

// ErrNotFound is returned for a reference that names nothing in the
// archive (yet: a Firehose record reaches S3 up to the stream's buffer
// interval after it was put).
var ErrNotFound = errors.New("no such record in the archive")

// S3 reads and writes the archive bucket: single objects, and the records
// the channels' delivery streams wrote there.
type S3 struct {
	client *s3.Client
	bucket string
	// streams is the delivery streams' name prefix
	// (topology.RawStreamPrefix); firehose:// references name a stream
	// with it, and the rest of the name is the channel.
	streams string
	// listings remembers the hour folders listed lately (firehose.go).
	listings *listings
}

// New returns an archive over bucket that reads s3:// references only.
func New(client *s3.Client, bucket string) *S3 {
	return &S3{client: client, bucket: bucket, listings: newListings()}
}

// WithStreams returns a copy of a that also reads and erases the records
// of the delivery streams whose names start with prefix.
func (a *S3) WithStreams(prefix string) *S3 {
	c := *a
	c.streams = prefix
	return &c
}

// Bucket is the archive's bucket.
func (a *S3) Bucket() string { return a.bucket }

// Put writes body under key and returns its s3:// URI.
func (a *S3) Put(ctx context.Context, key string, body []byte) (string, error) {
	_, err := a.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(a.bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(body),
		ContentType: aws.String("application/json"),
	})
	if err != nil {
		return "", fmt.Errorf("archive %s: %w", key, err)
	}
	return "s3://" + a.bucket + "/" + key, nil
}

// Holds reports whether ref names something in this archive: an object of
// its bucket or a record of one of its delivery streams.
func (a *S3) Holds(ref string) bool {
	if _, ok := a.objectKey(ref); ok {
		return true
	}
	_, err := a.parseRecordRef(ref)
	return err == nil
}

// objectKey is the key an s3:// reference into the bucket names.
func (a *S3) objectKey(ref string) (string, bool) {
	key, ok := strings.CutPrefix(ref, "s3://"+a.bucket+"/")
	if !ok || key == "" || strings.Contains(key, "..") {
		return "", false
	}
	return key, true
}

// Get reads back what a reference names: the object of an s3:// URI, or
// the record of a firehose:// reference (without its record id).
func (a *S3) Get(ctx context.Context, ref string) ([]byte, error) {
	if strings.HasPrefix(ref, recordScheme) {
		r, err := a.parseRecordRef(ref)
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		return a.getRecord(ctx, r)
	}
	key, ok := a.objectKey(ref)
	if !ok {
		return nil, fmt.Errorf("read archive: %q is not in bucket %s", ref, a.bucket)
	}
	out, err := a.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(a.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("read archive %s: %w", ref, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read archive %s: %w", ref, err)
	}
	return b, nil
}

// Erase overwrites what ref names with tombstone, a JSON object, in place:
// an object is replaced; a record is replaced in every object of its
// stream holding it (a redelivery may have put it twice), each rewritten
// at its own key, gzipped if it was. Erasing a record not yet delivered
// to S3 fails with ErrNotFound, so the erasure is asked again later.
func (a *S3) Erase(ctx context.Context, ref string, tombstone []byte) error {
	if strings.HasPrefix(ref, recordScheme) {
		r, err := a.parseRecordRef(ref)
		if err != nil {
			return fmt.Errorf("erase archive: %w", err)
		}
		return a.eraseRecord(ctx, r, tombstone)
	}
	key, ok := a.objectKey(ref)
	if !ok {
		return fmt.Errorf("erase archive: %q is not in bucket %s", ref, a.bucket)
	}
	if _, err := a.Put(ctx, key, tombstone); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	return nil
}

// EnvPathStyle, set to "true", addresses S3 buckets by path rather than by
// virtual host: the emulator's endpoint is an IP address.
const EnvPathStyle = "OCX_S3_PATH_STYLE"

// FromEnv is the archive in the bucket OCX_ARCHIVE_BUCKET names, reading
// the records of the delivery streams OCX_RAW_STREAM_PREFIX names.
func FromEnv(cfg aws.Config, getenv func(string) string) (*S3, error) {
	bucket := getenv(topology.EnvArchiveBucket)
	if bucket == "" {
		return nil, fmt.Errorf("missing environment: %s", topology.EnvArchiveBucket)
	}
	streams := getenv(topology.EnvRawStreamPrefix)
	if streams == "" {
		return nil, fmt.Errorf("missing environment: %s", topology.EnvRawStreamPrefix)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = getenv(EnvPathStyle) == "true" })
	return New(client, bucket).WithStreams(streams), nil
}

// StreamPrefix starts the names of the delivery streams whose records the
// archive reads; a channel's id ends its stream's name.
func (a *S3) StreamPrefix() string { return a.streams }
