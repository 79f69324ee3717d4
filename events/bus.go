package events

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Event is one event a producer publishes on the bus. internal/bus
// implements Publisher over EventBridge; the local stack and tests publish
// through the same adapter against the emulator.
type Event struct {
	Source     string
	DetailType string
	Detail     any
	Time       time.Time
	// Resources are ARNs or ids the event concerns (optional).
	Resources []string
}

// Publisher is what producers depend on: Publish returns nil only when
// every event was accepted.
type Publisher interface {
	Publish(ctx context.Context, evs ...Event) error
}

// The bus's limits on one event, which a producer must respect (EventBridge
// PutEvents: 256 KiB per entry, counted by EntrySize).
const MaxEntrySize = 256 * 1024

// ErrTooLarge is returned for an event larger than one entry may be; a
// producer sends such an event by reference (see ingest's claim check).
var ErrTooLarge = errors.New("event larger than an EventBridge entry")

// EntrySize is the size EventBridge counts for an entry with this source,
// detail-type and detail (withTime: the entry sets Time).
func EntrySize(source, detailType string, detail []byte, withTime bool) int {
	n := len(source) + len(detailType) + len(detail)
	if withTime {
		n += 14
	}
	return n
}

// Envelope is an event as a consumer receives it: EventBridge's envelope,
// whether delivered by a rule to Lambda or by a schedule.
type Envelope struct {
	Version    string          `json:"version,omitempty"`
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Account    string          `json:"account,omitempty"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region,omitempty"`
	Resources  []string        `json:"resources,omitempty"`
	Detail     json.RawMessage `json:"detail"`
}

// A schedule's tick: EventBridge Scheduler and scheduled rules deliver
// this source and detail-type.
const (
	TickSource = "aws.events"
	TickType   = "Scheduled Event"
)

// IsTick says whether the envelope is a schedule's tick rather than an
// event from the bus.
func (e Envelope) IsTick() bool { return e.Source == TickSource && e.DetailType == TickType }
