// Package ingest is the webhook edge: it verifies a channel's request,
// drops redeliveries, archives the raw payload, normalises it into canonical
// interactions and publishes them on the bus, answering the provider with a
// status that makes it retry exactly when something was not kept.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/channel/standardwebhooks"
	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/httpjson"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/topology"
)

// MaxBody is the largest webhook body accepted.
const MaxBody = 1 << 20

// SecretLister returns the active secrets stored under a name.
type SecretLister interface {
	List(ctx context.Context, name string) ([]string, error)
}

// Archiver stores objects: claim-checked events, which consumers read back
// one at a time.
type Archiver interface {
	Put(ctx context.Context, key string, body []byte) (string, error)
}

// RawArchive keeps raw requests in bulk (internal/archive: one Firehose
// delivery stream per channel).
type RawArchive interface {
	// Append keeps record, a JSON object, as the raw record id of channel
	// and returns the reference events carry. A nil error means the
	// record is durable.
	Append(ctx context.Context, channel, id string, record []byte) (string, error)
}

// Seen is the ledger's record of a delivery.
type Seen struct {
	// Done is true when the delivery was already fully processed.
	Done bool
	// EventIDs are the ids published for a done delivery.
	EventIDs []string
	// Topic is what the done delivery was taken to be (its event types),
	// recorded for deliveries keyed by a digest of a body-only signature.
	Topic string
}

// Ledger remembers deliveries so a redelivery is answered as the original
// was. It costs one read and one write per delivery: there is no claim
// before the work, because the work is safe to repeat (event ids are
// derived from the delivery, and every consumer of the bus drops an id it
// has seen), so two attempts racing on one delivery publish the same
// events twice and they count once.
type Ledger interface {
	// Seen reads what is known of the delivery.
	Seen(ctx context.Context, channel, delivery string) (Seen, error)
	// Complete records the delivery as done with its event ids and topic.
	Complete(ctx context.Context, channel, delivery string, eventIDs []string, topic string, now time.Time) error
}

// Service handles POST /v1/webhooks/{channel}.
type Service struct {
	Channels map[string]channel.Channel
	Secrets  SecretLister
	Ledger   Ledger
	// Raw keeps each raw request before the sender is answered.
	Raw        RawArchive
	Archive    Archiver
	Quarantine Quarantine
	Bus        events.Publisher
	Metrics    *emf.Recorder
	Now        func() time.Time
	Log        *slog.Logger
	// PublicBaseURL, when set, is the scheme and host providers call (e.g.
	// https://hooks.example.com); otherwise the forwarded host and proto of
	// the request are used. Schemes that sign the URL need it exact.
	PublicBaseURL string
	// Timeout overrides Deadline (tests).
	Timeout time.Duration
	// Tally, when set, counts each configured channel's requests per minute
	// and publishes them as intake.tallied.
	Tally *Tally
}

func (s *Service) deadline() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return Deadline
}

// Deadline bounds one request, well below the ingest function's 15-second
// timeout and API Gateway's 30-second integration timeout, so a stalled
// dependency earns the sender a 503 and Retry-After from OCX rather than a
// killed invocation or a gateway timeout with no answer at all.
const Deadline = 10 * time.Second

// retryAfter is what a sender is told to wait after a 503: long enough for
// a slow dependency to recover.
var retryAfter = strconv.Itoa(int(Deadline/time.Second) + 5)

// bodySigned are the kinds whose signature covers only the body: their
// delivery ids and topics travel in unsigned headers, so a captured body
// could be replayed under new ids or a different topic. Ingest dedupes them
// on a digest of the body as well.
var bodySigned = map[string]bool{"shopify": true, "typeform": true, "delighted": true, "intercom": true, "twilio": true}

// Accepted is the 202 (or duplicate 200) response body.
type Accepted struct {
	EventIDs    []string `json:"event_ids"`
	Duplicate   bool     `json:"duplicate,omitempty"`
	Quarantined int      `json:"quarantined,omitempty"`
	// Ignored counts items the channel's catalogue ignores on purpose.
	Ignored int `json:"ignored,omitempty"`
}

// ServeHTTP implements the webhook endpoint.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("channel")
	log := s.Log.With("channel", id)
	ctx, cancel := context.WithTimeout(r.Context(), s.deadline())
	defer cancel()
	res, status, err := s.handle(ctx, r, id)
	if _, ok := s.Channels[id]; ok {
		// Only configured channels: a request to any other name must not
		// grow the tally.
		s.Tally.Record(r.Context(), id, s.Now(), status, res)
	}
	if err != nil {
		if status >= 500 && ctx.Err() != nil {
			err = fmt.Errorf("not kept within %s, a dependency is slow; retry later: %w", s.deadline(), err)
		}
		switch {
		case status >= 500:
			log.Error("webhook not kept", "status", status, "err", err)
			w.Header().Set("Retry-After", retryAfter)
		default:
			log.Warn("webhook rejected", "status", status, "err", err)
		}
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		httpjson.Error(w, status, err.Error())
		return
	}
	log.Info("webhook accepted", "status", status, "events", len(res.EventIDs), "duplicate", res.Duplicate, "quarantined", res.Quarantined)
	httpjson.Write(w, status, res)
}

// acceptedTypes are the media types providers post; anything else is 415.
var acceptedTypes = map[string]bool{"application/json": true, "application/x-www-form-urlencoded": true, "text/plain": true, "": true}

func (s *Service) handle(ctx context.Context, r *http.Request, id string) (Accepted, int, error) {
	if r.Method != http.MethodPost {
		return Accepted{}, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed: webhooks are POSTed", r.Method)
	}
	ch, ok := s.Channels[id]
	if !ok {
		return Accepted{}, http.StatusNotFound, fmt.Errorf("unknown channel %q", id)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !acceptedTypes[mt] {
			return Accepted{}, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q not accepted: send application/json or a form", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return Accepted{}, http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", MaxBody)
		}
		return Accepted{}, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	req := channel.Request{Header: r.Header, Body: body, URL: s.publicURL(r)}
	secrets, err := s.Secrets.List(ctx, channel.SecretName(id))
	if err != nil {
		return Accepted{}, http.StatusServiceUnavailable, fmt.Errorf("load secrets of channel %s: %w", id, err)
	}
	now := s.Now()
	if err := ch.Kind.Verify(req, secrets, now); err != nil {
		return Accepted{}, http.StatusUnauthorized, err
	}
	strict := ch.Config.Kind == standardwebhooks.Kind
	var d channel.Delivery
	var perr error
	if jsonDepth(body, MaxDepth) > MaxDepth {
		perr = fmt.Errorf("%w: JSON nested deeper than %d levels", channel.ErrMalformed, MaxDepth)
	} else {
		d, perr = ch.Kind.Parse(req)
	}
	status := http.StatusBadRequest
	var notes []Reason
	if perr == nil {
		var p *problem
		if d, notes, p = screen(d, strict, MaxItems); p != nil {
			perr, status = p, p.status
		}
	}
	if perr != nil {
		// Verified but not keepable as events: keep it for inspection and
		// replay, and tell the sender it is wrong.
		d = channel.Delivery{ID: d.ID, Rejects: []channel.Reject{{Reason: perr.Error(), Item: body}}}
		notes = nil
	}
	d.ID = deliveryID(d, body)
	if perr != nil {
		if _, err := s.keep(ctx, id, req, d, nil, now); err != nil {
			return Accepted{}, http.StatusServiceUnavailable, err
		}
		// Refused, but its items are counted as quarantined: they are.
		return Accepted{Quarantined: len(d.Rejects)}, status, fmt.Errorf("%w (a copy is quarantined)", perr)
	}
	topic := topicOf(d)
	// A body-signed delivery that publishes something is remembered by a
	// digest of its body, not by its delivery id: the id travels in an
	// unsigned header, so a captured body replayed under a new id must
	// meet the first one's record. Only such a body: a body that was
	// ignored or quarantined published nothing a replay could repeat, and
	// Shopify sends the same order under orders/updated (ignored) and
	// orders/create.
	key, byBody := d.ID, bodySigned[ch.Config.Kind] && len(d.Events) > 0
	if byBody {
		key = bodyDigest(body)
	}
	seen, err := s.Ledger.Seen(ctx, id, key)
	switch {
	case err != nil:
		return Accepted{}, http.StatusServiceUnavailable, fmt.Errorf("read delivery %s: %w", key, err)
	case seen.Done && byBody && seen.Topic != topic:
		// The signature covers the body only: a body seen before under
		// another topic header is a replay, not a new fact.
		return Accepted{}, http.StatusBadRequest, fmt.Errorf("this signed body was already received as %q; refusing it as %q", seen.Topic, topic)
	case seen.Done:
		return Accepted{EventIDs: seen.EventIDs, Duplicate: true}, http.StatusOK, nil
	}
	ids, err := s.keep(ctx, id, req, d, notes, now)
	if err != nil {
		// Nothing is recorded: the sender's retry does it all again.
		return Accepted{}, http.StatusServiceUnavailable, err
	}
	if err := s.Ledger.Complete(ctx, id, key, ids, topic, now); err != nil {
		// The events are on the bus; downstream is idempotent by event id,
		// so a redelivery after this failure republishes harmlessly.
		s.Log.Warn("delivery published but not marked done", "delivery", key, "err", err)
	}
	// Ignored items are normal traffic, counted per provider type so a
	// subscription that sends more than it needs shows; never bad rows.
	ignored := map[string]int{}
	for _, ig := range d.Ignored {
		ignored[ig.Type]++
	}
	for typ, n := range ignored {
		s.Metrics.Count("IgnoredItems", n, map[string]string{"channel": id, "type": typ})
	}
	return Accepted{EventIDs: ids, Quarantined: len(d.Rejects), Ignored: len(d.Ignored)}, http.StatusAccepted, nil
}

// topicOf names what a delivery says it is: its event types in order,
// and "rejected" for a delivery of which nothing mapped.
func topicOf(d channel.Delivery) string {
	if len(d.Events) == 0 {
		return "rejected"
	}
	ts := make([]string, len(d.Events))
	for i, e := range d.Events {
		ts[i] = e.Type
	}
	return strings.Join(slices.Compact(ts), ",")
}

// bodyDigest keys a body-signed delivery by what its signature covers.
func bodyDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return "body:" + hex.EncodeToString(sum[:])
}

// maxDeliveryID bounds a provider's delivery id as a ledger key.
const maxDeliveryID = 256

// deliveryID is the provider's delivery id, or a hash of the body for
// providers that send none.
func deliveryID(d channel.Delivery, body []byte) string {
	if d.ID != "" {
		if len(d.ID) > maxDeliveryID {
			// Keeps the ledger's key well under DynamoDB's 2,048 bytes.
			sum := sha256.Sum256([]byte(d.ID))
			return "id-sha256:" + hex.EncodeToString(sum[:])
		}
		return d.ID
	}
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// publicURL is the URL the provider called, for schemes that sign it.
func (s *Service) publicURL(r *http.Request) string {
	base := strings.TrimRight(s.PublicBaseURL, "/")
	if base == "" {
		proto := r.Header.Get("X-Forwarded-Proto")
		if proto == "" {
			proto = "http"
			if r.TLS != nil {
				proto = "https"
			}
		}
		host := r.Header.Get("X-Forwarded-Host")
		if host == "" {
			host = r.Host
		}
		base = proto + "://" + host
	}
	return base + r.URL.RequestURI()
}

// keep archives the raw request, quarantines what could not be mapped
// (with notes on what was dropped from items that were kept) and publishes
// the rest. It is safe to repeat: ids are deterministic.
func (s *Service) keep(ctx context.Context, chID string, req channel.Request, d channel.Delivery, notes []Reason, now time.Time) ([]string, error) {
	raw, err := json.Marshal(Record{Channel: chID, URL: req.URL, Header: CleanHeader(req.Header), Body: req.Body})
	if err != nil {
		return nil, fmt.Errorf("encode raw record: %w", err)
	}
	ref, err := s.archiveRaw(ctx, chID, d.ID, raw)
	if err != nil {
		return nil, err
	}
	evs := Canonical(chID, d, ref, now)
	ids := make([]string, len(evs))
	out := make([]events.Event, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
		if ev, err = s.claimCheck(ctx, ev, now); err != nil {
			return nil, err
		}
		out[i] = events.Event{Source: events.SourceIngest, DetailType: ev.Type, Detail: ev, Time: ev.OccurredAt}
	}
	if len(d.Rejects) > 0 || len(notes) > 0 {
		row := NewBadRow(chID, d, ref, ids, now)
		row.Reasons = append(row.Reasons, notes...)
		row.fit()
		if err := s.Quarantine.Put(ctx, row); err != nil {
			return nil, fmt.Errorf("quarantine %d items of delivery %s: %w", len(d.Rejects), d.ID, err)
		}
		if len(d.Rejects) > 0 {
			s.Metrics.Count("QuarantinedItems", len(d.Rejects), map[string]string{"channel": chID})
			s.Log.Warn("items quarantined", "channel", chID, "delivery", d.ID, "bad_row", row.ID, "items", len(d.Rejects), "reason", shorten(d.Rejects[0].Reason, 200))
		}
		if len(notes) > 0 {
			s.Metrics.Count("IdentitiesDropped", len(notes), map[string]string{"channel": chID})
			s.Log.Warn("identity values dropped", "channel", chID, "delivery", d.ID, "bad_row", row.ID, "items", len(notes))
		}
	}
	if len(out) > 0 {
		if err := s.Bus.Publish(ctx, out...); err != nil {
			s.Metrics.Count("PutEventsFailed", len(out), map[string]string{"channel": chID})
			return nil, fmt.Errorf("publish %d events of delivery %s: %w", len(out), d.ID, err)
		}
	}
	return ids, nil
}

// archiveRaw keeps a delivery's raw record, durably, and returns its
// reference. The record id is the same for every redelivery, so each
// attempt's copy answers to it.
func (s *Service) archiveRaw(ctx context.Context, chID, delivery string, raw []byte) (string, error) {
	ref, err := s.Raw.Append(ctx, chID, RecordID(chID, delivery), raw)
	if err != nil {
		return "", fmt.Errorf("archive raw request of delivery %s: %w", delivery, err)
	}
	return ref, nil
}

// claimCheck lets an event too large for one EventBridge entry travel by
// reference: the whole event is archived and the bus carries it with its
// largest attributes left out and ClaimCheck pointing to the whole.
// Identity, type, times and the small attributes rules match on stay.
func (s *Service) claimCheck(ctx context.Context, ev events.Interaction, now time.Time) (events.Interaction, error) {
	return claimCheck(ctx, s.Archive, ev, now)
}

func claimCheck(ctx context.Context, arch Archiver, ev events.Interaction, now time.Time) (events.Interaction, error) {
	full, err := json.Marshal(ev)
	if err != nil {
		return ev, fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	if events.EntrySize(events.SourceIngest, ev.Type, full, true) <= claimAbove {
		return ev, nil
	}
	if arch == nil {
		return ev, fmt.Errorf("event %s: %w, and no archive to claim-check it in", ev.ID, events.ErrTooLarge)
	}
	ref, err := arch.Put(ctx, ClaimKey(ev.Channel, ev.ID, now), full)
	if err != nil {
		return ev, fmt.Errorf("claim-check event %s: %w", ev.ID, err)
	}
	return Slim(ev, ref, claimAbove), nil
}

// claimAbove is the entry size past which an event travels by reference,
// leaving room under EventBridge's 256 KiB for the envelope's own fields.
const claimAbove = events.MaxEntrySize - 4<<10

// Slim returns ev with ClaimCheck set to ref and only as many of its
// attributes, smallest first, as keep its entry within limit bytes.
func Slim(ev events.Interaction, ref string, limit int) events.Interaction {
	ev.ClaimCheck = ref
	attrs := ev.Attributes
	ev.Attributes = map[string]any{}
	base, _ := json.Marshal(ev)
	budget := limit - events.EntrySize(events.SourceIngest, ev.Type, base, true)
	type sized struct {
		k string
		n int
	}
	var all []sized
	for k, v := range attrs {
		b, _ := json.Marshal(v)
		all = append(all, sized{k, len(b) + len(k) + 4})
	}
	slices.SortFunc(all, func(a, b sized) int {
		if a.n != b.n {
			return a.n - b.n
		}
		return strings.Compare(a.k, b.k)
	})
	for _, a := range all {
		if a.n > budget {
			break
		}
		ev.Attributes[a.k] = attrs[a.k]
		budget -= a.n
	}
	return ev
}

// ClaimKey places claim-checked events beside the raw payloads.
func ClaimKey(channel, eventID string, at time.Time) string {
	return fmt.Sprintf("%s%s/%s/%s.json", topology.ClaimPrefix, channel, at.UTC().Format("2006/01/02"), eventID)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Canonical turns a delivery's drafts into interactions: deterministic ids,
// normalised identity keys, provenance.
func Canonical(chID string, d channel.Delivery, rawRef string, now time.Time) []events.Interaction {
	out := make([]events.Interaction, len(d.Events))
	for i, dr := range d.Events {
		key := d.ID + "#" + strconv.Itoa(i)
		if dr.ID != "" {
			key = "item:" + dr.ID
		}
		at := dr.OccurredAt
		if at.IsZero() {
			// Some providers (Twilio) send no event time: receipt is the
			// closest witness.
			at = now
		}
		attrs := dr.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		cust, _ := identity.Validate(dr.Customer)
		out[i] = events.Interaction{
			ID:         EventID(chID, key),
			Type:       dr.Type,
			Channel:    chID,
			OccurredAt: at.UTC(),
			ReceivedAt: now.UTC(),
			Customer:   cust,
			Attributes: attrs,
			DeliveryID: d.ID,
			Raw:        rawRef,
		}
	}
	return out
}

// EventID is deterministic so every redelivery names the same events: key
// is the provider's item id, or the delivery id and position.
func EventID(channel, key string) string {
	sum := sha256.Sum256([]byte(channel + "\x00" + key))
	return "evt_" + hex.EncodeToString(sum[:13])
}

// RecordID names a delivery's raw record: deterministic, so a
// redelivery's record answers to the same id, and free of the provider's
// own characters.
func RecordID(channel, delivery string) string {
	sum := sha256.Sum256([]byte(channel + "\x00" + delivery))
	return hex.EncodeToString(sum[:16])
}
