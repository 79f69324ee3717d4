package outbound

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/eventpattern"
	"github.com/ocxhq/ocx/internal/retryafter"
	"github.com/ocxhq/ocx/internal/wakeup"
)

// Commands the API sends the function over the bus.
const (
	// Source is the source of the commands OCX sends itself.
	Source = events.SourceOutbound
	// TypeReplay asks for the attempt of deliveries the API reopened.
	TypeReplay = events.TypeOutboundReplay
)

// The sweep takes deliveries overdue by SweepGrace (their wake-up should
// have come by then), at most SweepLimit per endpoint and run.
const (
	SweepGrace = time.Minute
	SweepLimit = 500
)

// ReplayCommand is TypeReplay's detail.
type ReplayCommand struct {
	Deliveries []string `json:"deliveries"`
}

// DefaultTimeout bounds one attempt: an endpoint should answer quickly and
// do its work later.
const DefaultTimeout = 15 * time.Second

// UserAgent names OCX to receivers.
const UserAgent = "OCX-Webhooks/1"

// NewClient is the HTTP client deliveries are sent with: bounded by
// DefaultTimeout, and not following redirects, which count as failures
// (an endpoint that moved is reconfigured, not chased).
func NewClient() *http.Client {
	return &http.Client{Timeout: DefaultTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Service matches OCX's events against the subscriptions and delivers them.
type Service struct {
	Subscriptions []Subscription
	Deliveries    Deliveries
	Endpoints     Endpoints
	Secrets       Secrets
	// Client sends the requests; its Timeout bounds an attempt.
	Client  *http.Client
	Wakeups wakeup.Scheduler
	Dead    DeadLetters
	Metrics Metrics
	Now     func() time.Time
	// Rand picks the jitter; nil means math/rand.
	Rand func() float64
	Log  *slog.Logger

	once    sync.Once
	initErr error
	index   eventpattern.Index[string]
	byID    map[string]Subscription
}

func (s *Service) init() error {
	s.once.Do(func() {
		s.byID = map[string]Subscription{}
		for _, sub := range s.Subscriptions {
			s.byID[sub.ID] = sub
			if !sub.Active() {
				s.Log.Info("outbound subscription has no url; its events are not sent", "subscription", sub.ID, "url", sub.URLTemplate)
				continue
			}
			p, err := eventpattern.Compile([]byte(sub.Pattern))
			if err != nil {
				s.initErr = fmt.Errorf("subscription %s: pattern: %w", sub.ID, err)
				return
			}
			s.index.Add(p, sub.ID)
		}
	})
	return s.initErr
}

// Handle takes one bus event: a replay command, or an event to send to
// every subscription it matches.
func (s *Service) Handle(ctx context.Context, env events.Envelope) error {
	if err := s.init(); err != nil {
		return err
	}
	if env.IsTick() {
		return s.Sweep(ctx)
	}
	if env.Source == Source {
		if env.DetailType != TypeReplay {
			return nil
		}
		var cmd ReplayCommand
		if err := json.Unmarshal(env.Detail, &cmd); err != nil {
			return fmt.Errorf("decode %s %s: %w", env.DetailType, env.ID, err)
		}
		var errs []error
		for _, id := range cmd.Deliveries {
			if err := s.Wake(ctx, WakeKey(id)); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	raw, err := json.Marshal(envelope(env))
	if err != nil {
		return fmt.Errorf("encode event %s: %w", env.ID, err)
	}
	doc, err := eventpattern.Decode(raw)
	if err != nil {
		return fmt.Errorf("match event %s: %w", env.ID, err)
	}
	matches := s.index.Match(doc)
	body, err := json.Marshal(Payload{ID: env.ID, Type: env.DetailType, Source: env.Source, Timestamp: env.Time.UTC(), Data: env.Detail})
	if err != nil {
		return fmt.Errorf("encode payload of %s: %w", env.ID, err)
	}
	var errs []error
	for _, m := range matches {
		sub := s.byID[m]
		now := s.Now()
		d := Delivery{ID: DeliveryID(sub.ID, env.ID), Endpoint: sub.ID, EventID: env.ID, EventType: env.DetailType, Body: body,
			Status: StatusPending, CreatedAt: now, RoundStarted: now, NextAttemptAt: now}
		if err := s.start(ctx, d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Payload is the body sent: OCX's event in the envelope the Standard
// Webhooks specification recommends.
type Payload struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Source    string          `json:"source"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// envelope is the EventBridge envelope patterns are matched against.
func envelope(env events.Envelope) map[string]any {
	return map[string]any{
		"version": env.Version, "id": env.ID, "detail-type": env.DetailType, "source": env.Source,
		"account": env.Account, "time": env.Time.UTC().Format(time.RFC3339), "region": env.Region,
		"resources": env.Resources, "detail": env.Detail,
	}
}

// DeliveryID is the webhook-id of an event's delivery to a subscription:
// derived from both, so a redelivered event maps to the same delivery.
func DeliveryID(subscription, eventID string) string {
	h := sha256.Sum256([]byte(subscription + "\x00" + eventID))
	return "msg_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:16]))
}

// Sweep tries the pending deliveries whose wake-up was lost (it failed
// to arrive, or was dead-lettered): the safety net under the wake-ups.
func (s *Service) Sweep(ctx context.Context) error {
	if err := s.init(); err != nil {
		return err
	}
	due := s.Now().Add(-SweepGrace)
	var errs []error
	for _, sub := range s.Subscriptions {
		if !sub.Active() {
			continue
		}
		n, cursor := 0, ""
		for n < SweepLimit {
			page, next, err := s.Deliveries.List(ctx, Query{Endpoint: sub.ID, DueBy: due, Limit: min(100, SweepLimit-n), Cursor: cursor})
			if err != nil {
				errs = append(errs, fmt.Errorf("list overdue deliveries of %s: %w", sub.ID, err))
				break
			}
			for _, d := range page {
				n++
				s.Log.Warn("outbound delivery overdue; its wake-up was lost", "delivery_id", d.ID, "endpoint", d.Endpoint, "next_attempt_at", d.NextAttemptAt)
				if err := s.attempt(ctx, d); err != nil {
					errs = append(errs, err)
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return errors.Join(errs...)
}

// WakeKey is the wake-up key of a delivery's next attempt.
func WakeKey(id string) string { return "delivery " + id }

// Wake attempts the delivery a wake-up names if it is due; a wake-up for
// one already delivered, failed or not yet due does nothing.
func (s *Service) Wake(ctx context.Context, key string) error {
	if err := s.init(); err != nil {
		return err
	}
	id, ok := strings.CutPrefix(key, "delivery ")
	if !ok {
		s.Log.Warn("wake-up for something not a delivery ignored", "key", key)
		return nil
	}
	d, err := s.Deliveries.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		s.Log.Warn("wake-up for an unknown delivery ignored", "delivery_id", id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read delivery %s: %w", id, err)
	}
	return s.attempt(ctx, d)
}

func (s *Service) random() float64 {
	if s.Rand != nil {
		return s.Rand()
	}
	return rand.Float64()
}

// HealthyRefresh is how often a healthy endpoint's last success is written:
// a success after a failure always is, but at a delivery a second writing
// it on each success would cost a write unit each for a time nobody reads
// to the second.
const HealthyRefresh = time.Minute

// start makes a new delivery's first attempt, then records the delivery
// as that attempt left it in one write: a delivery answered at once costs
// its item one write, not a create and an update, and no wake-up. Until
// that write the event itself carries the delivery: an invocation that
// dies or fails before it is retried by Lambda (the bus invokes the
// function asynchronously, with retries and a dead-letter queue), which
// finds no delivery and sends again under the same webhook-id, which
// receivers dedupe on. An event redelivered after the write finds its
// delivery and only tries it if it is still due.
func (s *Service) start(ctx context.Context, d Delivery) error {
	switch cur, err := s.Deliveries.Get(ctx, d.ID); {
	case err == nil:
		return s.attempt(ctx, cur)
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("read delivery %s: %w", d.ID, err)
	}
	now := s.Now()
	sub, st, reason, err := s.ready(ctx, d)
	if err != nil {
		return err
	}
	if reason != "" {
		// Not to be tried: recorded failed, as a wake-up would leave it.
		return s.fail(ctx, d, now, reason, true)
	}
	return s.try(ctx, sub, st, d, d.Attempts+1, time.Time{})
}

// attempt tries d once if it is due, claiming the attempt first so that
// two wake-ups (or a wake-up and the sweep) never both make it.
func (s *Service) attempt(ctx context.Context, d Delivery) error {
	now := s.Now()
	if d.Status != StatusPending || d.NextAttemptAt.After(now) {
		return nil
	}
	sub, st, reason, err := s.ready(ctx, d)
	if err != nil {
		return err
	}
	if reason != "" {
		return s.fail(ctx, d, now, reason, false)
	}
	n := d.Attempts + 1
	retry, err := s.arrange(ctx, d, n, now)
	if err != nil {
		return err
	}
	claimed, err := s.Deliveries.Claim(ctx, d.ID, n, now, retry)
	if err != nil {
		return fmt.Errorf("claim attempt %d of delivery %s: %w", n, d.ID, err)
	}
	if !claimed {
		return nil
	}
	return s.try(ctx, sub, st, d, n, retry)
}

// ready reads what an attempt of d needs: its subscription and its
// endpoint's state. reason, when not empty, is why d is to be failed
// without an attempt.
func (s *Service) ready(ctx context.Context, d Delivery) (sub Subscription, st EndpointState, reason string, err error) {
	sub, ok := s.byID[d.Endpoint]
	if !ok || !sub.Active() {
		return sub, st, "the subscription is no longer configured", nil
	}
	st, err = s.Endpoints.Get(ctx, d.Endpoint)
	if err != nil {
		return sub, st, "", fmt.Errorf("read endpoint %s: %w", d.Endpoint, err)
	}
	if st.Disabled {
		return sub, st, "endpoint disabled", nil
	}
	return sub, st, "", nil
}

// arrange schedules the wake-up for the try after attempt n of d, before
// attempt n is made: if this invocation dies mid-attempt, that wake-up
// finds the delivery still pending and tries again.
func (s *Service) arrange(ctx context.Context, d Delivery, n int, now time.Time) (time.Time, error) {
	retry := now.Add(Backoff(n-d.RoundBase, s.random()))
	if err := s.Wakeups.Schedule(ctx, WakeKey(d.ID), retry); err != nil {
		return time.Time{}, fmt.Errorf("schedule the retry of delivery %s: %w", d.ID, err)
	}
	return retry, nil
}

// try makes attempt n of d, which the caller claimed, and records its
// outcome; retry is when the wake-up the caller arranged comes, zero for
// a new delivery's first attempt, which nothing recorded yet.
func (s *Service) try(ctx context.Context, sub Subscription, st EndpointState, d Delivery, n int, retry time.Time) error {
	first := retry.IsZero()
	record := func(a Attempt, o Outcome) error {
		if !first {
			return s.Deliveries.Record(ctx, d, a, o)
		}
		// A concurrent invocation of the same event may have recorded it
		// meanwhile; its record stands.
		_, err := s.Deliveries.CreateSettled(ctx, d, &a, o)
		return err
	}
	a := s.send(ctx, sub, d, n)
	s.Metrics.Count(MetricAttempts, 1, map[string]string{"Outcome": outcomeOf(a)})
	log := s.Log.With("delivery_id", d.ID, "endpoint", d.Endpoint, "event_id", d.EventID, "attempt", n, "status", a.Status, "latency_ms", a.LatencyMS)
	if a.Status >= 200 && a.Status < 300 {
		if err := record(a.Attempt, Outcome{Status: StatusDelivered, At: a.At, LastStatus: a.Status}); err != nil {
			return fmt.Errorf("record attempt %d of delivery %s: %w", n, d.ID, err)
		}
		if st.ConsecutiveFailures > 0 || !st.FailingSince.IsZero() || a.At.Sub(st.LastSuccessAt) >= HealthyRefresh {
			if err := s.Endpoints.Succeeded(ctx, d.Endpoint, a.At); err != nil {
				return fmt.Errorf("record endpoint %s healthy: %w", d.Endpoint, err)
			}
		}
		log.Info("outbound webhook delivered")
		return nil
	}
	reason := a.Error
	if reason == "" {
		reason = fmt.Sprintf("HTTP %d", a.Status)
	}
	after := s.Now()
	es, err := s.Endpoints.Failed(ctx, d.Endpoint, after)
	if err != nil {
		return fmt.Errorf("record endpoint %s failing: %w", d.Endpoint, err)
	}
	if es.ConsecutiveFailures >= DisableMinFailures && !es.FailingSince.IsZero() && !after.Before(es.FailingSince.Add(DisableAfter)) {
		disabled, err := s.Endpoints.Disable(ctx, d.Endpoint, after, fmt.Sprintf("%d attempts in a row failed since %s; the last: %s",
			es.ConsecutiveFailures, es.FailingSince.UTC().Format(time.RFC3339), reason))
		if err != nil {
			return fmt.Errorf("disable endpoint %s: %w", d.Endpoint, err)
		}
		if disabled {
			s.Metrics.Count(MetricDisabled, 1, nil)
			log.Warn("outbound endpoint disabled after a long run of failures; enable it with POST /v1/outbound/endpoints/{id}/enable",
				"consecutive_failures", es.ConsecutiveFailures, "failing_since", es.FailingSince)
		}
		if err := record(a.Attempt, Outcome{Status: StatusFailed, At: after, LastStatus: a.Status, LastError: "endpoint disabled: " + reason}); err != nil {
			return fmt.Errorf("record attempt %d of delivery %s: %w", n, d.ID, err)
		}
		return nil
	}
	next, again := nextTry(after, d.RoundStarted.Add(MaxAge), Backoff(n-d.RoundBase, s.random()), a.retryAfter)
	if !again {
		if err := record(a.Attempt, Outcome{Status: StatusFailed, At: after, LastStatus: a.Status, LastError: reason}); err != nil {
			return fmt.Errorf("record attempt %d of delivery %s: %w", n, d.ID, err)
		}
		return s.deadLetter(ctx, d, n, after, reason)
	}
	if first {
		// The retry's wake-up before the record that makes it pending: a
		// record without one would wait for the sweep.
		if err := s.Wakeups.Schedule(ctx, WakeKey(d.ID), next); err != nil {
			return fmt.Errorf("schedule the retry of delivery %s: %w", d.ID, err)
		}
	}
	if err := record(a.Attempt, Outcome{Status: StatusPending, NextAttemptAt: next, At: after, LastStatus: a.Status, LastError: reason}); err != nil {
		return fmt.Errorf("record attempt %d of delivery %s: %w", n, d.ID, err)
	}
	if !first && !next.Equal(retry) {
		if err := s.Wakeups.Schedule(ctx, WakeKey(d.ID), next); err != nil {
			return fmt.Errorf("schedule the retry of delivery %s: %w", d.ID, err)
		}
	}
	log.Info("outbound webhook failed; it will be retried", "err", reason, "next_attempt_at", next)
	return nil
}

// fail gives d up without an attempt; a new delivery is recorded failed.
func (s *Service) fail(ctx context.Context, d Delivery, now time.Time, reason string, isNew bool) error {
	var err error
	if isNew {
		_, err = s.Deliveries.CreateSettled(ctx, d, nil, Outcome{Status: StatusFailed, At: now, LastError: reason})
	} else {
		err = s.Deliveries.Fail(ctx, d, now, reason)
	}
	if err != nil {
		return fmt.Errorf("mark delivery %s failed: %w", d.ID, err)
	}
	s.Log.Info("outbound delivery failed without an attempt; replay it once the endpoint is enabled", "delivery_id", d.ID, "endpoint", d.Endpoint, "reason", reason)
	return nil
}

func (s *Service) deadLetter(ctx context.Context, d Delivery, attempts int, at time.Time, reason string) error {
	s.Metrics.Count(MetricUndeliverable, 1, nil)
	s.Log.Error("outbound delivery given up after its retries; it stays listed for replay", "delivery_id", d.ID, "endpoint", d.Endpoint,
		"event_id", d.EventID, "attempts", attempts, "err", reason)
	if err := s.Dead.SendJSON(ctx, DeadLetter{DeliveryID: d.ID, Endpoint: d.Endpoint, EventID: d.EventID, EventType: d.EventType,
		Attempts: attempts, Error: reason, At: at}); err != nil {
		return fmt.Errorf("dead-letter delivery %s: %w", d.ID, err)
	}
	return nil
}

// attemptResult is one try's record and what the endpoint asked.
type attemptResult struct {
	Attempt
	retryAfter time.Duration
}

func outcomeOf(a attemptResult) string {
	switch {
	case a.Status >= 200 && a.Status < 300:
		return "delivered"
	case a.Status == 0:
		return "no_answer"
	default:
		return "rejected"
	}
}

// send makes attempt n: it signs the body with every current secret and
// posts it.
func (s *Service) send(ctx context.Context, sub Subscription, d Delivery, n int) attemptResult {
	start := s.Now()
	a := attemptResult{Attempt: Attempt{N: n, At: start}}
	secrets, err := s.Secrets.List(ctx, SecretPrefix+sub.Secret)
	if err != nil {
		a.Error = "read the signing secret: " + err.Error()
		return a
	}
	sig, err := Signature(secrets, d.ID, start, d.Body)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.URL, bytes.NewReader(d.Body))
	if err != nil {
		a.Error = "build request: " + err.Error()
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderID, d.ID)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(start.Unix()))
	req.Header.Set(HeaderSignature, sig)
	resp, err := s.Client.Do(req)
	a.LatencyMS = s.Now().Sub(start).Milliseconds()
	if err != nil {
		// The error names the URL, which may carry a token.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		a.Error = "no answer: " + err.Error()
		return a
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseExcerpt))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	a.Status = resp.StatusCode
	a.Response = strings.ToValidUTF8(string(excerpt), "?")
	a.retryAfter = retryafter.Of(resp.Header, s.Now())
	return a
}
