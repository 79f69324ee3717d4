package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ocxhq/ocx/internal/topology"
)

// Layout of the raw records in the archive bucket, which internal/rawstream
// writes and this package reads and erases.
//
// Each channel has its own delivery stream (topology.RawStreamName), which
// delivers to topology.RawObjectPrefix(channel) followed by Firehose's
// default UTC "YYYY/MM/DD/HH/": the hour is the arrival time of the oldest
// record in the object, so a record may sit in the folder of the hour
// before it was put (up to the buffer interval earlier). In AWS objects are
// GZIP-compressed (their names end .gz); the emulator (moto) writes one
// uncompressed object per PutRecord. Readers accept both.
//
// Each record is one line: a JSON object whose first member is
// "record_id", then the members of the record ingest gave, ending "\n"
// (Firehose concatenates records as they are):
//
//	{"record_id":"<id>","channel":"stripe","url":…,"header":…,"body":…}
//
// An event names its record by
//
//	firehose://<stream>/<YYYY>/<MM>/<DD>/<HH>/<mm>/<ss>/<record id>
//
// where the time is the UTC time at which PutRecord was called, by the
// writer's wall clock (ingest's receive time in AWS; the local stack may
// run ingest on a simulated clock, but Firehose and the emulator file
// objects by the real one). Get lists the stream's folders of that hour,
// the hour before and the hour after (clock skew) and scans their objects
// for the id, those whose names carry the nearest time first. Erasure
// replaces the record's line with a tombstone under the same id and
// rewrites the object at its own key.
const recordScheme = "firehose://"

// MaxRecord is Firehose's limit on one record (1,000 KiB before base64).
// A larger one (a 1 MiB body grows by a third as base64 in the record) is
// kept as an object of its own under topology.RawLargePrefix.
const MaxRecord = 1000 << 10

// ValidName reports whether channel and record id can name a record: a
// channel id, and an id of letters, digits, '-' and '_' (no '/').
func ValidName(channel, id string) bool { return validChannel(channel) && validID(id) }

// RecordRef is the reference of record id put to stream at.
func RecordRef(stream string, at time.Time, id string) string {
	return recordScheme + stream + "/" + at.UTC().Format("2006/01/02/15/04/05") + "/" + id
}

// recordRef is a parsed firehose:// reference.
type recordRef struct {
	ref, stream, channel, id string
	// at is when the record was put; hour its hour.
	at, hour time.Time
}

func (a *S3) parseRecordRef(ref string) (recordRef, error) {
	rest, ok := strings.CutPrefix(ref, recordScheme)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 8 {
		return recordRef{}, fmt.Errorf("%q is not a firehose://<stream>/<YYYY>/<MM>/<DD>/<HH>/<mm>/<ss>/<record id> reference", ref)
	}
	r := recordRef{ref: ref, stream: parts[0], id: parts[7]}
	if a.streams == "" {
		return r, fmt.Errorf("%q: this archive reads no delivery streams", ref)
	}
	var chOK bool
	r.channel, chOK = strings.CutPrefix(r.stream, a.streams)
	if !chOK || !validChannel(r.channel) {
		return r, fmt.Errorf("%q: stream %q is not one of this archive's (%s<channel>)", ref, r.stream, a.streams)
	}
	at, err := time.Parse("2006/01/02/15/04/05", strings.Join(parts[1:7], "/"))
	if err != nil {
		return r, fmt.Errorf("%q: bad time: %w", ref, err)
	}
	r.at, r.hour = at, at.Truncate(time.Hour)
	if !validID(r.id) {
		return r, fmt.Errorf("%q: malformed record id", ref)
	}
	return r, nil
}

// folders are the prefixes that may hold the record, likeliest first: its
// hour, the hour before (an object is filed by its oldest record) and the
// hour after (the writer's clock may run behind Firehose's).
func (r recordRef) folders() []string {
	var out []string
	for _, h := range []time.Duration{0, -time.Hour, time.Hour} {
		out = append(out, topology.RawObjectPrefix(r.channel)+r.hour.Add(h).Format("2006/01/02/15")+"/")
	}
	return out
}

// within reports whether key lies in one of the record's folders.
func (r recordRef) within(key string) bool {
	for _, f := range r.folders() {
		if strings.HasPrefix(key, f) {
			return true
		}
	}
	return false
}

// marker starts the line of record id.
func marker(id string) []byte { return []byte(`{"record_id":"` + id + `"`) }

// payload is the record a line holds, without its id, when the line is
// record id's.
func payload(line, mark []byte) ([]byte, bool) {
	line = bytes.TrimRight(line, "\r\n")
	rest, ok := bytes.CutPrefix(line, mark)
	switch {
	case !ok || len(rest) == 0:
		return nil, false
	case rest[0] == '}':
		return []byte("{}"), true
	case rest[0] == ',':
		return append([]byte("{"), rest[1:]...), true
	}
	return nil, false
}

// RecordLine is the line that keeps record (a JSON object) as id.
func RecordLine(id string, record []byte) ([]byte, error) {
	var c bytes.Buffer
	// Compacting drops any newline, so the line stays one line.
	if err := json.Compact(&c, record); err != nil {
		return nil, fmt.Errorf("record is not JSON: %w", err)
	}
	b := c.Bytes()
	if len(b) < 2 || b[0] != '{' {
		return nil, fmt.Errorf("record is not a JSON object")
	}
	line := marker(id)
	if inner := b[1 : len(b)-1]; len(inner) > 0 {
		line = append(append(line, ','), inner...)
	}
	return append(line, '}', '\n'), nil
}

func (a *S3) getRecord(ctx context.Context, r recordRef) ([]byte, error) {
	// Listings remembered from earlier reads serve a bulk replay, which
	// reads many records of the same hours; they may lack objects
	// delivered since, so a miss looks again with fresh ones.
	b, err := a.findRecord(ctx, r, false)
	if errors.Is(err, ErrNotFound) {
		b, err = a.findRecord(ctx, r, true)
	}
	return b, err
}

func (a *S3) findRecord(ctx context.Context, r recordRef, fresh bool) ([]byte, error) {
	mark := marker(r.id)
	tried := map[string]bool{}
	try := func(key string) ([]byte, error) {
		tried[key] = true
		var found []byte
		err := a.scan(ctx, key, func(line []byte) bool {
			if id, ok := lineID(line); ok {
				a.listings.saw(r.stream, id, key)
			}
			p, ok := payload(line, mark)
			if ok {
				found = p
			}
			return !ok
		})
		if err != nil {
			return nil, fmt.Errorf("read archive %s: %w", r.ref, err)
		}
		return found, nil
	}
	// An object read for another record may have shown where this one is.
	if key, ok := a.listings.where(r.stream, r.id); ok && !fresh && r.within(key) {
		if found, err := try(key); err != nil || found != nil {
			return found, err
		}
	}
	for _, folder := range r.folders() {
		keys, err := a.candidates(ctx, r, folder, fresh)
		if err != nil {
			return nil, fmt.Errorf("read archive %s: %w", r.ref, err)
		}
		for _, key := range keys {
			if tried[key] {
				continue
			}
			if found, err := try(key); err != nil || found != nil {
				return found, err
			}
		}
	}
	return nil, fmt.Errorf("read archive %s: %w (looked in %s)", r.ref, ErrNotFound, strings.Join(r.folders(), ", "))
}

// lineID is the record id a line starts with.
func lineID(line []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(`{"record_id":"`))
	if !ok {
		return "", false
	}
	end := bytes.IndexByte(rest, '"')
	if end <= 0 || end > 128 {
		return "", false
	}
	return string(rest[:end]), true
}

func (a *S3) eraseRecord(ctx context.Context, r recordRef, tombstone []byte) error {
	tomb, err := RecordLine(r.id, tombstone)
	if err != nil {
		return fmt.Errorf("erase archive %s: tombstone: %w", r.ref, err)
	}
	mark := marker(r.id)
	erased := 0
	for _, folder := range r.folders() {
		// Fresh listings: an erasure must reach every copy.
		keys, err := a.list(ctx, folder)
		if err != nil {
			return fmt.Errorf("erase archive %s: %w", r.ref, err)
		}
		for _, key := range keys {
			// A first pass that stops at the record keeps the objects
			// that do not hold it from being rewritten.
			holds := false
			if err := a.scan(ctx, key, func(line []byte) bool {
				_, holds = payload(line, mark)
				return !holds
			}); err != nil {
				return fmt.Errorf("erase archive %s: %w", r.ref, err)
			}
			if !holds {
				continue
			}
			if err := a.rewrite(ctx, key, mark, tomb); err != nil {
				return fmt.Errorf("erase archive %s: %w", r.ref, err)
			}
			erased++
		}
	}
	if erased == 0 {
		return fmt.Errorf("erase archive %s: %w (looked in %s)", r.ref, ErrNotFound, strings.Join(r.folders(), ", "))
	}
	return nil
}

// candidates lists a folder's objects nearest the record's time first.
// An object's name carries the time of its oldest record (in the
// emulator, of its one record), so the record is almost always in the
// first or second object read, not in whichever comes first of a busy
// hour's; the rest are still read if it is not.
func (a *S3) candidates(ctx context.Context, r recordRef, folder string, fresh bool) ([]string, error) {
	keys, ok := a.listings.get(folder)
	if fresh || !ok {
		var err error
		if keys, err = a.list(ctx, folder); err != nil {
			return nil, err
		}
		a.listings.put(folder, keys)
	}
	keys = slices.Clone(keys)
	far := time.Duration(math.MaxInt64)
	dist := make(map[string]time.Duration, len(keys))
	for _, k := range keys {
		dist[k] = far
		if t, ok := objectTime(k, r.stream); ok {
			d := r.at.Sub(t)
			if d < 0 {
				// Written after the record was put: only a skewed
				// clock puts the record there.
				d = -2 * d
			}
			dist[k] = d
		}
	}
	sort.SliceStable(keys, func(i, j int) bool { return dist[keys[i]] < dist[keys[j]] })
	return keys, nil
}

// objectTime is the time in the name Firehose gives an object:
// <stream>-<version>-YYYY-MM-DD-HH-MM-SS-<random>[.gz].
func objectTime(key, stream string) (time.Time, bool) {
	name, ok := strings.CutPrefix(key[strings.LastIndexByte(key, '/')+1:], stream+"-")
	if !ok {
		return time.Time{}, false
	}
	_, rest, ok := strings.Cut(name, "-") // the stream's version
	const layout = "2006-01-02-15-04-05"
	if !ok || len(rest) < len(layout) {
		return time.Time{}, false
	}
	t, err := time.Parse(layout, rest[:len(layout)])
	return t, err == nil
}

// listings remembers a few hour folders' keys for a short while, and in
// which object each record id read past was. Delivered objects keep their
// keys (an erasure rewrites in place), so a remembered listing can only
// lack newer objects, and a remembered place is checked when read. A bulk
// replay of a busy hour thus reads each object about once, not once per
// record (a second's objects all sort alike by their names' time).
type listings struct {
	mu      sync.Mutex
	folders map[string]listing
	places  map[string]string // stream + "/" + record id -> key
}

// placesMax bounds the remembered places (some 100 bytes each).
const placesMax = 100_000

func (l *listings) saw(stream, id, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.places) >= placesMax {
		clear(l.places)
	}
	l.places[stream+"/"+id] = key
}

func (l *listings) where(stream, id string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key, ok := l.places[stream+"/"+id]
	return key, ok
}

type listing struct {
	keys []string
	at   time.Time
}

// Bounds of the remembered listings: a bulk replay's hours, briefly.
const (
	listingsMax = 32
	listingsTTL = time.Minute
)

func newListings() *listings {
	return &listings{folders: map[string]listing{}, places: map[string]string{}}
}

func (l *listings) get(folder string) ([]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.folders[folder]
	if !ok || time.Since(e.at) > listingsTTL {
		return nil, false
	}
	return e.keys, true
}

func (l *listings) put(folder string, keys []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.folders) >= listingsMax {
		for f, e := range l.folders {
			if time.Since(e.at) > listingsTTL || len(l.folders) >= listingsMax {
				delete(l.folders, f)
			}
		}
	}
	l.folders[folder] = listing{keys: keys, at: time.Now()}
}

// list returns the keys under prefix in key order.
func (a *S3) list(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(a.client, &s3.ListObjectsV2Input{Bucket: aws.String(a.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// open reads an object's lines, decompressed: AWS's delivery streams
// GZIP their objects, the emulator does not, so the gzip magic bytes
// (1f 8b) decide; a JSON line never starts with them.
func (a *S3) open(ctx context.Context, key string) (*object, error) {
	out, err := a.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(a.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	o := &object{out: out, lines: bufio.NewReaderSize(out.Body, 64<<10)}
	if magic, _ := o.lines.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(o.lines)
		if err != nil {
			out.Body.Close()
			return nil, fmt.Errorf("gunzip %s: %w", key, err)
		}
		o.gz, o.lines = zr, bufio.NewReaderSize(zr, 64<<10)
	}
	return o, nil
}

// object is an object being read line by line.
type object struct {
	out   *s3.GetObjectOutput
	lines *bufio.Reader
	// gz is set when the object is gzipped.
	gz *gzip.Reader
}

func (o *object) Close() {
	if o.gz != nil {
		o.gz.Close()
	}
	o.out.Body.Close()
}

// scan hands each line of an object to each until it returns false.
func (a *S3) scan(ctx context.Context, key string, each func(line []byte) bool) error {
	o, err := a.open(ctx, key)
	if err != nil {
		return err
	}
	defer o.Close()
	for {
		line, err := o.lines.ReadBytes('\n')
		if len(line) > 0 && !each(line) {
			return nil
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
	}
}

// rewrite puts the object at key back with every line starting mark
// replaced by tomb, compressed as it was. It goes through a temporary
// file: a delivered object may be larger than the function's memory.
func (a *S3) rewrite(ctx context.Context, key string, mark, tomb []byte) error {
	o, err := a.open(ctx, key)
	if err != nil {
		return err
	}
	defer o.Close()
	tmp, err := os.CreateTemp("", "ocx-erase-*")
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", key, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	var w io.Writer = tmp
	var zw *gzip.Writer
	if o.gz != nil {
		zw = gzip.NewWriter(tmp)
		w = zw
	}
	for {
		line, rerr := o.lines.ReadBytes('\n')
		if len(line) > 0 {
			if _, ok := payload(line, mark); ok {
				line = tomb
			}
			if _, err := w.Write(line); err != nil {
				return fmt.Errorf("rewrite %s: %w", key, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("rewrite %s: read: %w", key, rerr)
		}
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return fmt.Errorf("rewrite %s: %w", key, err)
		}
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", key, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewrite %s: %w", key, err)
	}
	_, err = a.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(a.bucket), Key: aws.String(key), Body: tmp, ContentLength: aws.Int64(size),
		ContentType: o.out.ContentType, ContentEncoding: o.out.ContentEncoding,
	})
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", key, err)
	}
	return nil
}

func validChannel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
