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
	"net/http"
	"strconv"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/archive"
	"github.com/ocxhq/ocx/internal/bus"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/httpjson"
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
	Channels map[string]channel.Channel
	Secrets  SecretLister
	Ledger   Ledger
	Archive  Archiver
	Bus      bus.Publisher
	Now      func() time.Time
	Log      *slog.Logger
	// PublicURL returns the URL the provider called, for schemes that sign it.
	PublicURL func(r *http.Request) string
}

// lease bounds how long a crashed attempt blocks a redelivery.
const lease = 30 * time.Second

// Accepted is the 202 (or duplicate 200) response body.
type Accepted struct {
	EventIDs  []string `json:"event_ids"`
	Duplicate bool     `json:"duplicate,omitempty"`
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
		httpjson.Error(w, status, err.Error())
		return
	}
	log.Info("webhook accepted", "status", status, "events", len(res.EventIDs), "duplicate", res.Duplicate)
	httpjson.Write(w, status, res)
}

func (s *Service) handle(ctx context.Context, r *http.Request, id string) (Accepted, int, error) {
	if r.Method != http.MethodPost {
		return Accepted{}, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed: webhooks are POSTed", r.Method)
	}
	ch, ok := s.Channels[id]
	if !ok {
		return Accepted{}, http.StatusNotFound, fmt.Errorf("unknown channel %q", id)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return Accepted{}, http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", MaxBody)
		}
		return Accepted{}, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	req := channel.Request{Header: r.Header, Body: body}
	if s.PublicURL != nil {
		req.URL = s.PublicURL(r)
	}
	secrets, err := s.Secrets.List(ctx, channel.SecretName(id))
	if err != nil {
		return Accepted{}, http.StatusServiceUnavailable, fmt.Errorf("load secrets of channel %s: %w", id, err)
	}
	now := s.Now()
	if err := ch.Kind.Verify(req, secrets, now); err != nil {
		return Accepted{}, http.StatusUnauthorized, err
	}
	d, err := ch.Kind.Parse(req)
	if err != nil {
		return Accepted{}, http.StatusBadRequest, err
	}
	if d.ID == "" {
		// Without a provider id, the body itself identifies the delivery.
		sum := sha256.Sum256(body)
		d.ID = "sha256:" + hex.EncodeToString(sum[:])
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
	return Accepted{EventIDs: ids}, http.StatusAccepted, nil
}

// keep archives the raw request and publishes its events.
func (s *Service) keep(ctx context.Context, chID string, req channel.Request, d channel.Delivery, now time.Time) ([]string, error) {
	raw, err := json.Marshal(archive.Record{Channel: chID, Header: archive.CleanHeader(req.Header), Body: req.Body})
	if err != nil {
		return nil, fmt.Errorf("encode raw record: %w", err)
	}
	ref, err := s.Archive.Put(ctx, ArchiveKey(chID, d.ID, now), raw)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(d.Events))
	evs := make([]bus.Event, len(d.Events))
	for i, dr := range d.Events {
		ev := events.Interaction{
			ID:         EventID(chID, d.ID, i),
			Type:       dr.Type,
			Channel:    chID,
			OccurredAt: dr.OccurredAt,
			ReceivedAt: now.UTC(),
			Customer:   dr.Customer,
			Attributes: dr.Attributes,
			DeliveryID: d.ID,
			Raw:        ref,
		}
		ids[i] = ev.ID
		evs[i] = bus.Event{Source: events.SourceIngest, DetailType: ev.Type, Detail: ev, Time: ev.OccurredAt}
	}
	if err := s.Bus.Publish(ctx, evs...); err != nil {
		return nil, fmt.Errorf("publish %d events of delivery %s: %w", len(evs), d.ID, err)
	}
	return ids, nil
}

// EventID is deterministic so every redelivery names the same events.
func EventID(channel, delivery string, index int) string {
	sum := sha256.Sum256([]byte(channel + "\x00" + delivery + "\x00" + strconv.Itoa(index)))
	return "evt_" + hex.EncodeToString(sum[:13])
}

// ArchiveKey places raw payloads by channel and UTC day, so lifecycle rules
// and ad-hoc queries can select a range.
func ArchiveKey(channel, delivery string, at time.Time) string {
	sum := sha256.Sum256([]byte(delivery))
	return fmt.Sprintf("raw/%s/%s/%s.json", channel, at.UTC().Format("2006/01/02"), hex.EncodeToString(sum[:16]))
}
