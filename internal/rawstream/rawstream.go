// Package rawstream keeps raw webhooks durably and in bulk: one Amazon Data
// Firehose PutRecord per webhook to its channel's delivery stream, which
// writes them to the archive bucket in the layout internal/archive reads
// back. It is ingest's only; the functions that only read or erase raw
// payloads link internal/archive without the Firehose client.
package rawstream

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/ocxhq/ocx/internal/archive"
	"github.com/ocxhq/ocx/internal/topology"
)

// Writer appends raw records to their channel's delivery stream.
type Writer struct {
	client *firehose.Client
	store  *archive.S3
	// Now is the clock that names a record's time; Firehose files objects
	// by the real time of arrival, whatever clock the caller runs on.
	Now func() time.Time
}

// New appends through client to the streams store reads back.
func New(client *firehose.Client, store *archive.S3) *Writer {
	return &Writer{client: client, store: store, Now: time.Now}
}

// Append keeps record (a JSON object) as the raw record id of channel and
// returns the reference that reads it back. It returns once the record is
// durable: Firehose acknowledged it, or, over Firehose's record limit, S3
// stored it as an object of its own.
func (w *Writer) Append(ctx context.Context, channel, id string, record []byte) (string, error) {
	if !archive.ValidName(channel, id) {
		return "", fmt.Errorf("archive record %q of channel %q: malformed channel or record id", id, channel)
	}
	line, err := archive.RecordLine(id, record)
	if err != nil {
		return "", fmt.Errorf("archive record %s: %w", id, err)
	}
	at := w.Now().UTC()
	if len(line) > archive.MaxRecord {
		key := topology.RawLargePrefix + channel + "/" + at.Format("2006/01/02") + "/" + id + ".json"
		return w.store.Put(ctx, key, record)
	}
	stream := w.Stream(channel)
	_, err = w.client.PutRecord(ctx, &firehose.PutRecordInput{
		DeliveryStreamName: aws.String(stream),
		Record:             &fhtypes.Record{Data: line},
	})
	if err != nil {
		return "", fmt.Errorf("archive record %s to stream %s: %w", id, stream, err)
	}
	return archive.RecordRef(stream, at, id), nil
}

// Stream names channel's delivery stream.
func (w *Writer) Stream(channel string) string { return w.store.StreamPrefix() + channel }

// Archive is what ingest wires: raw records appended through Firehose,
// claim checks written and raw payloads read back through S3.
type Archive struct {
	*archive.S3
	*Writer
}

// FromEnv is the archive of archive.FromEnv with its streams' writer.
func FromEnv(cfg aws.Config, getenv func(string) string) (*Archive, error) {
	store, err := archive.FromEnv(cfg, getenv)
	if err != nil {
		return nil, err
	}
	return &Archive{S3: store, Writer: New(firehose.NewFromConfig(cfg), store)}, nil
}
