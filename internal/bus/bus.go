// Package bus publishes canonical events to the EventBridge bus: batched
// within PutEvents limits, failed entries retried with backoff, and an error
// when any entry still fails so the caller can make its sender retry.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/topology"
)

// PutEvents limits: entries per call and bytes per call; an entry's own
// limit is events.MaxEntrySize.
const (
	MaxEntries   = 10
	MaxBatchSize = 256 * 1024
)

// PutEventsAPI is the part of the EventBridge client used here.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge publishes to one bus.
type EventBridge struct {
	client   PutEventsAPI
	bus      string
	attempts int
	backoff  time.Duration
}

var _ events.Publisher = (*EventBridge)(nil)

// New returns a publisher for the named bus.
func New(client PutEventsAPI, busName string) *EventBridge {
	return &EventBridge{client: client, bus: busName, attempts: 4, backoff: 50 * time.Millisecond}
}

// Publish sends all events. It returns nil only when every entry was accepted.
func (p *EventBridge) Publish(ctx context.Context, evs ...events.Event) error {
	entries := make([]ebtypes.PutEventsRequestEntry, 0, len(evs))
	for _, e := range evs {
		detail, err := json.Marshal(e.Detail)
		if err != nil {
			return fmt.Errorf("encode %s detail: %w", e.DetailType, err)
		}
		entry := ebtypes.PutEventsRequestEntry{
			EventBusName: aws.String(p.bus),
			Source:       aws.String(e.Source),
			DetailType:   aws.String(e.DetailType),
			Detail:       aws.String(string(detail)),
			Resources:    e.Resources,
		}
		if !e.Time.IsZero() {
			entry.Time = aws.Time(e.Time)
		}
		if n := entrySize(entry); n > events.MaxEntrySize {
			return fmt.Errorf("%w: %s event is %d bytes, over %d", events.ErrTooLarge, e.DetailType, n, events.MaxEntrySize)
		}
		entries = append(entries, entry)
	}
	bs := batches(entries)
	if len(bs) == 1 {
		return p.put(ctx, bs[0])
	}
	// A delivery of a thousand events is a hundred calls: a few at a time
	// keeps it well inside the webhook's deadline. EventBridge promises no
	// order across entries, so none is lost by this.
	errs := make([]error, len(bs))
	sem := make(chan struct{}, parallelCalls)
	var wg sync.WaitGroup
	for i, b := range bs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = p.put(ctx, b)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// parallelCalls bounds the PutEvents calls one Publish makes at once.
const parallelCalls = 4

// put sends one batch, resending only the entries that failed.
func (p *EventBridge) put(ctx context.Context, pending []ebtypes.PutEventsRequestEntry) error {
	var lastErr error
	wait := p.backoff
	for attempt := 1; attempt <= p.attempts; attempt++ {
		out, err := p.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: pending})
		if err != nil {
			lastErr = fmt.Errorf("put %d events on %s: %w", len(pending), p.bus, err)
		} else if out.FailedEntryCount == 0 {
			return nil
		} else {
			// Results are positional: keep the entries whose result has an error code.
			var failed []ebtypes.PutEventsRequestEntry
			for i, r := range out.Entries {
				if r.ErrorCode != nil && i < len(pending) {
					failed = append(failed, pending[i])
					lastErr = fmt.Errorf("put events on %s: %d of %d entries failed, e.g. %s: %s",
						p.bus, out.FailedEntryCount, len(pending), aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
				}
			}
			pending = failed
		}
		if attempt == p.attempts {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %v)", lastErr, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
	return lastErr
}

// batches splits entries into PutEvents calls within both limits.
func batches(entries []ebtypes.PutEventsRequestEntry) [][]ebtypes.PutEventsRequestEntry {
	var out [][]ebtypes.PutEventsRequestEntry
	var cur []ebtypes.PutEventsRequestEntry
	size := 0
	for _, e := range entries {
		n := entrySize(e)
		if len(cur) == MaxEntries || (len(cur) > 0 && size+n > MaxBatchSize) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, e)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// entrySize follows EventBridge's documented size calculation.
func entrySize(e ebtypes.PutEventsRequestEntry) int {
	n := 0
	if e.Time != nil {
		n += 14
	}
	n += len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// FromEnv is the publisher for the bus OCX_BUS_NAME names.
func FromEnv(cfg aws.Config, getenv func(string) string) (*EventBridge, error) {
	name := getenv(topology.EnvBusName)
	if name == "" {
		return nil, fmt.Errorf("missing environment: %s", topology.EnvBusName)
	}
	return New(eventbridge.NewFromConfig(cfg), name), nil
}
