// Package sendgrid verifies Twilio SendGrid's Signed Event Webhook and maps
// its event array to canonical email events.
//
// Signature (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features):
// X-Twilio-Email-Event-Webhook-Signature is the base64 ASN.1 DER ECDSA
// P-256 signature over SHA-256(X-Twilio-Email-Event-Webhook-Timestamp +
// raw body), where the raw body includes its trailing CRLF. The channel
// secret is the verification key SendGrid shows: a base64 PKIX (DER) P-256
// public key. SendGrid documents no replay window; OCX allows the signed
// timestamp to be Tolerance either side of now.
//
// SendGrid sends no delivery id, so Delivery.ID is empty (ingest hashes the
// body); each item's sg_event_id is its Draft.ID.
package sendgrid

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
)

// Kind is the registered kind name.
const Kind = "sendgrid"

// Tolerance is how far the signed timestamp may be from now, either way.
// SendGrid documents none; ten minutes absorbs clock skew and queueing on
// SendGrid's side while still bounding replays.
const Tolerance = 10 * time.Minute

// Header names SendGrid sets on signed deliveries.
const (
	HeaderSignature = "X-Twilio-Email-Event-Webhook-Signature"
	HeaderTimestamp = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// Canonical event types, by SendGrid event name.
var types = map[string]string{
	"processed":  "email.sent",
	"delivered":  "email.delivered",
	"bounce":     "email.bounced",
	"dropped":    "email.dropped",
	"deferred":   "email.deferred",
	"spamreport": "email.spam_reported",
	"open":       "email.opened",
	"click":      "email.clicked",
	// An unsubscribe from everything or from one group (asm_group_id).
	"unsubscribe":       "email.unsubscribed",
	"group_unsubscribe": "email.unsubscribed",
}

func init() { channel.Register(Kind, channel.Static(Scheme{})) }

// Scheme implements channel.Kind.
type Scheme struct{}

// Verify checks the ECDSA signature against every active verification key.
func (Scheme) Verify(req channel.Request, secrets []string, now time.Time) error {
	sig := req.Header.Get(HeaderSignature)
	ts := req.Header.Get(HeaderTimestamp)
	if sig == "" || ts == "" {
		return fmt.Errorf("%w: need %s and %s headers (is the Signed Event Webhook enabled?)", channel.ErrSignature, HeaderSignature, HeaderTimestamp)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not unix seconds", channel.ErrSignature, HeaderTimestamp, ts)
	}
	if err := channel.CheckTimestamp(time.Unix(sec, 0), now, Tolerance); err != nil {
		return err
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: %s is not base64", channel.ErrSignature, HeaderSignature)
	}
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write(req.Body)
	digest := h.Sum(nil)
	for i, secret := range secrets {
		key, err := PublicKey(secret)
		if err != nil {
			return fmt.Errorf("channel secret %d of %d: %w", i+1, len(secrets), err)
		}
		if ecdsa.VerifyASN1(key, digest, der) {
			return nil
		}
	}
	return fmt.Errorf("%w: signature does not verify with any active verification key", channel.ErrSignature)
}

var keys sync.Map // secret string -> *ecdsa.PublicKey

// PublicKey parses a verification key as SendGrid shows it: base64 of a
// PKIX DER P-256 public key (PEM armour is tolerated).
func PublicKey(secret string) (*ecdsa.PublicKey, error) {
	if k, ok := keys.Load(secret); ok {
		return k.(*ecdsa.PublicKey), nil
	}
	s := strings.TrimSpace(secret)
	s = strings.TrimPrefix(s, "-----BEGIN PUBLIC KEY-----")
	s = strings.TrimSuffix(s, "-----END PUBLIC KEY-----")
	s = strings.Join(strings.Fields(s), "")
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("verification key is not base64")
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("verification key is not a PKIX public key: %v", err)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("verification key is not an ECDSA P-256 key")
	}
	keys.Store(secret, k)
	return k, nil
}

// Ignored are the SendGrid events that carry nothing OCX uses: a
// resubscription to a group (the unsubscribe before it is what matters)
// and account-level notices that name no recipient. Answered 2xx and
// counted.
var Ignored = []string{"group_resubscribe", "account_status_change"}

var ignored = channel.Set(Ignored...)

// Fields SendGrid itself defines; any other key on an item is one of the
// sender's custom_args and goes to attributes.custom_args.
var reserved = map[string]bool{
	"email": true, "timestamp": true, "event": true, "sg_event_id": true, "sg_message_id": true,
	"smtp-id": true, "category": true, "response": true, "attempt": true, "reason": true,
	"status": true, "type": true, "bounce_classification": true, "url": true, "url_offset": true,
	"useragent": true, "ip": true, "tls": true, "cert_err": true, "sg_machine_open": true,
	"marketing_campaign_id": true, "marketing_campaign_name": true, "marketing_campaign_version": true,
	"marketing_campaign_split_id": true, "asm_group_id": true, "send_at": true, "pool": true,
	"sg_content_type": true, "sg_template_id": true, "sg_template_name": true, "singlesend_id": true,
	"singlesend_name": true, "template_id": true, "template_version_id": true, "template_name": true,
	"phone_number_id": true, "mc_auto_id": true, "mc_stats": true, "newsletter": true,
}

// Attributes copied as they are, by event ("" for all events).
var copied = map[string][]string{
	"":          {"sg_event_id", "sg_message_id", "category", "marketing_campaign_id", "marketing_campaign_name", "asm_group_id", "sg_template_id", "sg_template_name", "singlesend_id"},
	"delivered": {"response", "tls"},
	"deferred":  {"response", "attempt"},
	"bounce":    {"type", "bounce_classification", "reason", "status"},
	"dropped":   {"reason", "status"},
	"open":      {"useragent", "sg_machine_open"},
	"click":     {"url", "url_offset", "useragent"},
}

// Parse maps each item of the event array to a draft; an item it cannot
// map is rejected on its own.
func (Scheme) Parse(req channel.Request) (channel.Delivery, error) {
	body := bytes.TrimSpace(req.Body)
	if len(body) == 0 || body[0] != '[' {
		return channel.Delivery{}, fmt.Errorf("%w: expected a JSON array of events", channel.ErrMalformed)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return channel.Delivery{}, fmt.Errorf("%w: %v", channel.ErrMalformed, err)
	}
	if len(items) == 0 {
		return channel.Delivery{}, fmt.Errorf("%w: empty event array", channel.ErrMalformed)
	}
	d := channel.Delivery{Events: make([]channel.Draft, 0, len(items))}
	for i, raw := range items {
		dr, reason := draft(raw)
		if ev, ok := strings.CutPrefix(reason, ignorePrefix); ok {
			d.Ignored = append(d.Ignored, channel.Ignored{Index: i, Type: ev})
			continue
		}
		if reason != "" {
			d.Rejects = append(d.Rejects, channel.Reject{Index: i, Reason: reason, Item: raw})
			continue
		}
		d.Events = append(d.Events, dr)
	}
	return d, nil
}

// ignorePrefix marks draft's answer for an event ignored on purpose.
const ignorePrefix = "\x00ignore:"

func draft(raw json.RawMessage) (channel.Draft, string) {
	var it map[string]any
	if err := json.Unmarshal(raw, &it); err != nil || it == nil {
		return channel.Draft{}, "sendgrid item is not a JSON object"
	}
	ev, _ := it["event"].(string)
	if ev == "" {
		return channel.Draft{}, "sendgrid item has no event"
	}
	if ignored[ev] {
		return channel.Draft{}, ignorePrefix + ev
	}
	typ, ok := types[ev]
	if !ok {
		return channel.Draft{}, fmt.Sprintf("unknown sendgrid event type %q", ev)
	}
	email, _ := it["email"].(string)
	if email == "" {
		return channel.Draft{}, fmt.Sprintf("sendgrid %s event has no email", ev)
	}
	ts, ok := it["timestamp"].(float64)
	if !ok || ts != math.Trunc(ts) || ts < 0 || ts > 1<<40 {
		return channel.Draft{}, fmt.Sprintf("sendgrid %s event has no unix timestamp", ev)
	}
	if url, _ := it["url"].(string); ev == "click" && url == "" {
		return channel.Draft{}, "sendgrid click event has no url"
	}
	a := map[string]any{"provider_event": ev}
	for _, group := range [][]string{copied[""], copied[ev]} {
		for _, k := range group {
			if v, ok := it[k]; ok && v != nil && v != "" {
				a[k] = v
			}
		}
	}
	smtpID, _ := it["smtp-id"].(string)
	channel.SetNonEmpty(a, "smtp_id", smtpID)
	if s, ok := a["attempt"].(string); ok {
		if n, err := strconv.Atoi(s); err == nil {
			a["attempt"] = n
		}
	}
	var custom map[string]any
	for k, v := range it {
		if !reserved[k] {
			if custom == nil {
				custom = map[string]any{}
			}
			custom[k] = v
		}
	}
	if custom != nil {
		a["custom_args"] = custom
	}
	id, _ := it["sg_event_id"].(string)
	return channel.Draft{
		ID:         id,
		Type:       typ,
		OccurredAt: time.Unix(int64(ts), 0).UTC(),
		Customer:   events.Customer{Email: email},
		Attributes: a,
	}, ""
}
