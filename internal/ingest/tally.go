package ingest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ocxhq/ocx/events"
)

// Tally counts, in memory, what each channel sent this environment in the
// current minute, and publishes one intake.tallied per channel when the
// minute has turned. It costs no table write per request and one bus
// entry per channel and minute: the facts the platform team's rules and
// the channel health view need, at the price of a counter.
type Tally struct {
	Bus events.Publisher
	// Store, when set, keeps each published tally for the channel health
	// view (two writes per channel and minute, none per request).
	Store TallyStore
	Log   *slog.Logger
	// Instance names this environment in its tallies (random by default).
	Instance string

	mu     sync.Mutex
	minute time.Time
	counts map[string]*events.IntakeTally
}

// TallyStore keeps tallies.
type TallyStore interface {
	Add(ctx context.Context, t events.IntakeTally) error
}

// NewTally returns a tally publishing on b and keeping in store (if not nil).
func NewTally(b events.Publisher, store TallyStore, log *slog.Logger) *Tally {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return &Tally{Bus: b, Store: store, Log: log, Instance: hex.EncodeToString(r[:])}
}

// tallyPublishTimeout bounds publishing a finished minute from within a
// request whose own context may be nearly spent.
const tallyPublishTimeout = 3 * time.Second

// Record counts one request's outcome on channel at now; when now is in a
// later minute than what is held, the held minute is published first.
func (t *Tally) Record(ctx context.Context, channel string, now time.Time, status int, res Accepted) {
	if t == nil {
		return
	}
	done := t.add(channel, now, status, res)
	if len(done) > 0 {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tallyPublishTimeout)
		defer cancel()
		t.publish(pctx, done)
	}
}

// Flush publishes whatever is held (at shutdown, or from a schedule).
func (t *Tally) Flush(ctx context.Context) {
	if t == nil {
		return
	}
	t.mu.Lock()
	done := t.take()
	t.mu.Unlock()
	t.publish(ctx, done)
}

func (t *Tally) add(channel string, now time.Time, status int, res Accepted) []events.IntakeTally {
	minute := now.UTC().Truncate(time.Minute)
	t.mu.Lock()
	defer t.mu.Unlock()
	var done []events.IntakeTally
	if minute.After(t.minute) {
		done = t.take()
		t.minute = minute
	}
	// A request stamped in an earlier minute than the one held (a slow
	// request finishing late) counts in the held minute.
	c := t.counts[channel]
	if c == nil {
		if t.counts == nil {
			t.counts = map[string]*events.IntakeTally{}
		}
		c = &events.IntakeTally{Channel: channel, OccurredAt: t.minute, Instance: t.Instance}
		t.counts[channel] = c
	}
	switch {
	case status == http.StatusAccepted:
		c.Accepted++
	case status == http.StatusOK:
		c.Duplicate++
	case status == http.StatusUnauthorized:
		c.RejectedSignature++
	case status >= 500:
		c.Unavailable++
	default:
		c.RejectedOther++
	}
	if status < 300 {
		if !res.Duplicate {
			c.Events += len(res.EventIDs)
		}
		c.Ignored += res.Ignored
		if now.After(c.LastAcceptedAt) {
			c.LastAcceptedAt = now.UTC()
		}
	}
	c.Quarantined += res.Quarantined
	return done
}

// take empties the held minute; the caller holds mu.
func (t *Tally) take() []events.IntakeTally {
	out := make([]events.IntakeTally, 0, len(t.counts))
	for _, c := range t.counts {
		c.ID = TallyID(c.Channel, c.OccurredAt, c.Instance)
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b events.IntakeTally) int { return strings.Compare(a.Channel, b.Channel) })
	t.counts = nil
	return out
}

func (t *Tally) publish(ctx context.Context, done []events.IntakeTally) {
	if len(done) == 0 {
		return
	}
	evs := make([]events.Event, len(done))
	for i, c := range done {
		evs[i] = events.Event{Source: events.SourceIntake, DetailType: events.TypeIntakeTallied, Detail: c, Time: c.OccurredAt}
	}
	// Tallies are what OCX says of itself: losing one minute's costs a
	// gap in a chart, never a customer's event, so a failure is logged
	// and the request goes on.
	if err := t.Bus.Publish(ctx, evs...); err != nil && t.Log != nil {
		t.Log.Warn("intake tallies not published", "minute", done[0].OccurredAt, "channels", len(done), "err", err)
	}
	if t.Store == nil {
		return
	}
	for _, c := range done {
		if err := t.Store.Add(ctx, c); err != nil && t.Log != nil {
			t.Log.Warn("intake tally not kept", "channel", c.Channel, "minute", c.OccurredAt, "err", err)
		}
	}
}

// TallyID names one environment's tally of a channel's minute, so a
// republished tally is recognisably the same.
func TallyID(channel string, minute time.Time, instance string) string {
	sum := sha256.Sum256([]byte(channel + "\x00" + minute.UTC().Format(time.RFC3339) + "\x00" + instance))
	return "itl_" + hex.EncodeToString(sum[:13])
}
