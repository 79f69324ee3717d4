// Package archive keeps every verified webhook exactly as received in S3, so
// any event can be traced to, and rebuilt from, its raw payload.
package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ocxhq/ocx/internal/topology"
)

// S3 stores records in one bucket.
type S3 struct {
	client *s3.Client
	bucket string
}

// New returns an archive over bucket.
func New(client *s3.Client, bucket string) *S3 { return &S3{client: client, bucket: bucket} }

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

// Get reads an object back by its s3:// URI.
func (a *S3) Get(ctx context.Context, uri string) ([]byte, error) {
	key, ok := strings.CutPrefix(uri, "s3://"+a.bucket+"/")
	if !ok {
		return nil, fmt.Errorf("read archive: %q is not in bucket %s", uri, a.bucket)
	}
	out, err := a.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(a.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("read archive %s: %w", uri, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read archive %s: %w", uri, err)
	}
	return b, nil
}

// EnvPathStyle, set to "true", addresses S3 buckets by path rather than by
// virtual host: the emulator's endpoint is an IP address.
const EnvPathStyle = "OCX_S3_PATH_STYLE"

// FromEnv is the archive in the bucket OCX_ARCHIVE_BUCKET names.
func FromEnv(cfg aws.Config, getenv func(string) string) (*S3, error) {
	bucket := getenv(topology.EnvArchiveBucket)
	if bucket == "" {
		return nil, fmt.Errorf("missing environment: %s", topology.EnvArchiveBucket)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = getenv(EnvPathStyle) == "true" })
	return New(client, bucket), nil
}

// Bucket is the archive's bucket.
func (a *S3) Bucket() string { return a.bucket }
