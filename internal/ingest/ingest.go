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
	"strconv"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/archive"
	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/httpjson"
	"github.com/ocxhq/ocx/internal/identity"
)

// MaxBody is the largest webhook body accepted.
const MaxBody = 1 << 20

// SecretLister returns the active secrets stored under a name.
type SecretLister interface {
	List(ctx context.Context, name string) ([]string, error)
}

// Archiver stores raw payloads.
type Archiver interface {
	Put(ctx context.Context, key string, body []byte) (string, error)
}

// Claim is the ledger's answer for a delivery.
type Claim struct {
	// Done is true when the delivery was already fully processed.
	Done bool
	// EventIDs are the ids published for a done delivery.
	EventIDs []string
	// Busy is true when another attempt holds the delivery right now.
	Busy bool
}

// Ledger remembers deliveries so a redelivery publishes nothing twice.
type Ledger interface {
	// Claim takes the delivery for processing for lease, unless it is done or
	// already held.
	Claim(ctx context.Context, channel, delivery string, now time.Time, lease time.Duration) (Claim, error)
	// Complete records the delivery as done with its event ids.
	Complete(ctx context.Context, channel, delivery string, eventIDs []string, now time.Time) error
	// Release gives up a claim after a failure so a retry can process it.
	Release(ctx context.Context, channel, delivery string) error
}

// Service handles POST /v1/webhooks/{channel}.
type Service struct {
	Channels   map[string]channel.Channel
	Secrets    SecretLister
	Ledger     Ledger
	Archive    Archiver
	Quarantine Quarantine
	Bus        bus.Publisher
	Metrics    *emf.Recorder
	Now        func() time.Time
	Log        *slog.Logger
	// PublicBaseURL, when set, is the scheme and host providers call (e.g.
	// https://hooks.example.com); otherwise the forwarded host and proto of
	// the request are used. Schemes that sign the URL need it exact.
	PublicBaseURL string
}

// lease bounds how long a crashed attempt blocks a redelivery.
const lease = 30 * time.Second

// Accepted is the 202 (or duplicate 200) response body.
type Accepted struct {
	EventIDs    []string `json:"event_ids"`
	Duplicate   bool     `json:"duplicate,omitempty"`
	Quarantined int      `json:"quarantined,omitempty"`
}

// ServeHTTP implements the webhook endpoint.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("channel")
	log := s.Log.With("channel", id)
	res, status, err := s.handle(r.Context(), r, id)
	if err != nil {
		if status >= 500 {
			log.Error("webhook not kept", "status", status, "err", err)
			w.Header().Set("Retry-After", "5")
		} else {
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
	d, perr := ch.Kind.Parse(req)
	if perr != nil {
		// Verified but unreadable: keep it for inspection and replay, and
		// tell the sender it is wrong.
		d = channel.Delivery{Rejects: []channel.Reject{{Reason: perr.Error(), Item: body}}}
	}
	d.ID = deliveryID(d, body)
	if perr != nil {
		if _, err := s.keep(ctx, id, req, d, now); err != nil {
			return Accepted{}, http.StatusServiceUnavailable, err
		}
		return Accepted{}, http.StatusBadRequest, fmt.Errorf("%w (a copy is quarantined)", perr)
	}
	claim, err := s.Ledger.Claim(ctx, id, d.ID, now, lease)
	if err != nil {
		return Accepted{}, http.StatusServiceUnavailable, fmt.Errorf("claim delivery %s: %w", d.ID, err)
	}
	switch {
	case claim.Done:
		return Accepted{EventIDs: claim.EventIDs, Duplicate: true}, http.StatusOK, nil
	case claim.Busy:
		return Accepted{}, http.StatusConflict, fmt.Errorf("delivery %s is being processed; retry later", d.ID)
	}
	ids, err := s.keep(ctx, id, req, d, now)
	if err != nil {
		if rerr := s.Ledger.Release(ctx, id, d.ID); rerr != nil {
			err = errors.Join(err, fmt.Errorf("release delivery %s: %w", d.ID, rerr))
		}
		return Accepted{}, http.StatusServiceUnavailable, err
	}
	if err := s.Ledger.Complete(ctx, id, d.ID, ids, now); err != nil {
		// The events are on the bus; downstream is idempotent by event id,
		// so a redelivery after this failure republishes harmlessly.
		s.Log.Warn("delivery published but not marked done", "delivery", d.ID, "err", err)
	}
	return Accepted{EventIDs: ids, Quarantined: len(d.Rejects)}, http.StatusAccepted, nil
}

// deliveryID is the provider's delivery id, or a hash of the body for
// providers that send none.
func deliveryID(d channel.Delivery, body []byte) string {
	if d.ID != "" {
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

// keep archives the raw request, quarantines what could not be mapped and
// publishes the rest. It is safe to repeat: ids are deterministic.
func (s *Service) keep(ctx context.Context, chID string, req channel.Request, d channel.Delivery, now time.Time) ([]string, error) {
	raw, err := json.Marshal(archive.Record{Channel: chID, URL: req.URL, Header: archive.CleanHeader(req.Header), Body: req.Body})
	if err != nil {
		return nil, fmt.Errorf("encode raw record: %w", err)
	}
	ref, err := s.Archive.Put(ctx, ArchiveKey(chID, d.ID, now), raw)
	if err != nil {
		return nil, err
	}
	evs := Canonical(chID, d, ref, now)
	ids := make([]string, len(evs))
	out := make([]bus.Event, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
		out[i] = bus.Event{Source: events.SourceIngest, DetailType: ev.Type, Detail: ev, Time: ev.OccurredAt}
	}
	if len(d.Rejects) > 0 {
		row := NewBadRow(chID, d, ref, ids, now)
		if err := s.Quarantine.Put(ctx, row); err != nil {
			return nil, fmt.Errorf("quarantine %d items of delivery %s: %w", len(d.Rejects), d.ID, err)
		}
		s.Metrics.Count("QuarantinedItems", len(d.Rejects), map[string]string{"channel": chID})
		s.Log.Warn("items quarantined", "channel", chID, "delivery", d.ID, "bad_row", row.ID, "items", len(d.Rejects), "reason", d.Rejects[0].Reason)
	}
	if len(out) > 0 {
		if err := s.Bus.Publish(ctx, out...); err != nil {
			s.Metrics.Count("PutEventsFailed", len(out), map[string]string{"channel": chID})
			return nil, fmt.Errorf("publish %d events of delivery %s: %w", len(out), d.ID, err)
		}
	}
	return ids, nil
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
		out[i] = events.Interaction{
			ID:         EventID(chID, key),
			Type:       dr.Type,
			Channel:    chID,
			OccurredAt: at.UTC(),
			ReceivedAt: now.UTC(),
			Customer:   normalise(dr.Customer),
			Attributes: attrs,
			DeliveryID: d.ID,
			Raw:        rawRef,
		}
	}
	return out
}

// normalise puts identity fields in canonical form; a value that cannot be
// normalised (a phone without country code) is kept as sent so nothing is
// lost.
func normalise(c events.Customer) events.Customer {
	c.ID = strings.TrimSpace(c.ID)
	if e := identity.Email(c.Email); e != "" {
		c.Email = e
	}
	if p := identity.Phone(c.Phone); p != "" {
		c.Phone = p
	}
	return c
}

// EventID is deterministic so every redelivery names the same events: key
// is the provider's item id, or the delivery id and position.
func EventID(channel, key string) string {
	sum := sha256.Sum256([]byte(channel + "\x00" + key))
	return "evt_" + hex.EncodeToString(sum[:13])
}

// ArchiveKey places raw payloads by channel and UTC day, so lifecycle rules
// and ad-hoc queries can select a range.
func ArchiveKey(channel, delivery string, at time.Time) string {
	sum := sha256.Sum256([]byte(delivery))
	return fmt.Sprintf("raw/%s/%s/%s.json", channel, at.UTC().Format("2006/01/02"), hex.EncodeToString(sum[:16]))
}
