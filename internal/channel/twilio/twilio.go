// Package twilio verifies Twilio webhook requests (X-Twilio-Signature) and
// maps Programmable Messaging and Voice callbacks to canonical events:
// inbound SMS, outbound message status callbacks and call status callbacks.
//
// Signature (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
// base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
// sorted by name, no delimiters)). When Twilio posts JSON, the URL carries
// bodySHA256 (hex SHA-256 of the raw body), the signature covers the URL
// alone, and the body must match the hash. Twilio's helper libraries also
// accept the URL with the scheme's default port added or the port removed,
// because Twilio's own signing is inconsistent about ports; so does Verify.
//
// Twilio signs no timestamp, so there is no replay window, and its message
// callbacks carry no event time: those drafts leave OccurredAt zero and
// ingest uses the receive time. Call status callbacks carry Timestamp (RFC
// 2822), which is used when present.
package twilio

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
)

// Kind is the registered kind name.
const Kind = "twilio"

// HeaderSignature carries the request signature.
const HeaderSignature = "X-Twilio-Signature"

// Canonical event types this kind emits.
const (
	TypeMessageReceived    = "message.received"
	TypeMessageDelivered   = "message.delivered"
	TypeMessageFailed      = "message.failed"
	TypeMessageUndelivered = "message.undelivered"
	TypeMessageRead        = "message.read"
	TypeCallCompleted      = "call.completed"
	TypeCallMissed         = "call.missed"
)

var messageTypes = map[string]string{
	"received":    TypeMessageReceived,
	"delivered":   TypeMessageDelivered,
	"failed":      TypeMessageFailed,
	"undelivered": TypeMessageUndelivered,
	"read":        TypeMessageRead,
}

// MessageStatuses and CallStatuses list every status Twilio documents, so
// each is mapped or ignored on purpose; a status outside them is
// quarantined as unknown.
var (
	// IgnoredMessageStatuses are steps on the way to a final status
	// (queued, sending, sent, accepted, scheduled, receiving), a business
	// decision (canceled: a scheduled message withdrawn) or a partial
	// result the final status reports (partially_delivered).
	IgnoredMessageStatuses = []string{"queued", "sending", "sent", "accepted", "scheduled", "receiving", "canceled", "partially_delivered"}
	// IgnoredCallStatuses are a call in progress; its end is reported.
	IgnoredCallStatuses = []string{"queued", "initiated", "ringing", "in-progress"}
	// missedCalls never connected.
	missedCalls = channel.Set("busy", "no-answer", "failed", "canceled")

	ignoredMessage = channel.Set(IgnoredMessageStatuses...)
	ignoredCall    = channel.Set(IgnoredCallStatuses...)
)

func init() { channel.Register(Kind, channel.Static(Scheme{})) }

// Scheme implements channel.Kind. Its secrets are the account's auth tokens
// (primary and, while rotating, secondary).
type Scheme struct{}

// Verify checks X-Twilio-Signature against every active auth token.
func (Scheme) Verify(req channel.Request, secrets []string, _ time.Time) error {
	sig := req.Header.Get(HeaderSignature)
	if sig == "" {
		return fmt.Errorf("%w: missing %s header", channel.ErrSignature, HeaderSignature)
	}
	if req.URL == "" {
		return fmt.Errorf("%w: no request URL to check the signature against", channel.ErrSignature)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return fmt.Errorf("%w: request URL does not parse: %v", channel.ErrSignature, err)
	}
	var params url.Values
	if want := u.Query().Get("bodySHA256"); want != "" {
		sum := sha256.Sum256(req.Body)
		if !hmac.Equal([]byte(hex.EncodeToString(sum[:])), []byte(strings.ToLower(want))) {
			return fmt.Errorf("%w: body does not match the URL's bodySHA256", channel.ErrSignature)
		}
	} else if params, err = url.ParseQuery(string(req.Body)); err != nil {
		return fmt.Errorf("%w: body is not a form and the URL has no bodySHA256: %v", channel.ErrSignature, err)
	}
	urls := urlVariants(u, req.URL)
	for _, token := range secrets {
		for _, v := range urls {
			if hmac.Equal([]byte(Sign(token, v, params)), []byte(sig)) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %s matches no active auth token for this URL and body", channel.ErrSignature, HeaderSignature)
}

// Sign returns Twilio's signature of a request to rawURL with the given
// POST parameters (nil for JSON bodies and GET requests). Parameters are
// sorted by name; a name with several values contributes name+value for
// each distinct value in sorted order, as Twilio's Node and Python
// libraries do (twilio-go reads only the first value).
func Sign(authToken, rawURL string, params url.Values) string {
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(rawURL))
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vals := params[k]
		if len(vals) > 1 {
			vals = slices.Clone(vals)
			slices.Sort(vals)
			vals = slices.Compact(vals)
		}
		for _, v := range vals {
			m.Write([]byte(k))
			m.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// urlVariants is the URL as given, then without its port, or with the
// scheme's default port when it has none (as Twilio's libraries check).
func urlVariants(u *url.URL, raw string) []string {
	if u.Host == "" {
		return []string{raw}
	}
	c := *u
	if u.Port() != "" {
		c.Host = bracket(u.Hostname())
	} else {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		c.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return []string{raw, c.String()}
}

func bracket(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// Parse maps one callback to a draft. Each request is one item: index 0,
// and the whole body is the item.
func (Scheme) Parse(req channel.Request) (channel.Delivery, error) {
	p, err := params(req)
	if err != nil {
		return channel.Delivery{}, fmt.Errorf("%w: %v", channel.ErrMalformed, err)
	}
	reject := func(d channel.Delivery, format string, args ...any) channel.Delivery {
		d.Rejects = append(d.Rejects, channel.Reject{Reason: fmt.Sprintf(format, args...), Item: req.Body})
		return d
	}
	callSid, msgSid := p.Get("CallSid"), first(p, "MessageSid", "SmsSid")
	switch {
	case msgSid != "":
		status := first(p, "MessageStatus", "SmsStatus")
		if status == "" && p.Has("Body") {
			status = "received"
		}
		if status == "" {
			return reject(channel.Delivery{}, "twilio message %s has no MessageStatus", msgSid), nil
		}
		d := channel.Delivery{ID: msgSid + ":" + status}
		if ignoredMessage[status] {
			d.Ignored = []channel.Ignored{{Type: "message." + status}}
			return d, nil
		}
		typ, ok := messageTypes[status]
		if !ok {
			return reject(d, "unknown twilio message status %q", status), nil
		}
		dr, reason := message(p, typ, msgSid, status)
		if reason != "" {
			return reject(d, "%s", reason), nil
		}
		dr.ID = d.ID
		d.Events = []channel.Draft{dr}
		return d, nil
	case callSid != "":
		status := p.Get("CallStatus")
		if status == "" {
			return reject(channel.Delivery{}, "twilio call %s has no CallStatus", callSid), nil
		}
		d := channel.Delivery{ID: callSid + ":" + status}
		typ := TypeCallCompleted
		switch {
		case ignoredCall[status]:
			d.Ignored = []channel.Ignored{{Type: "call." + status}}
			return d, nil
		case missedCalls[status]:
			typ = TypeCallMissed
		case status != "completed":
			return reject(d, "unknown twilio call status %q", status), nil
		}
		dr, reason := call(p, typ, callSid, status)
		if reason != "" {
			return reject(d, "%s", reason), nil
		}
		dr.ID = d.ID
		d.Events = []channel.Draft{dr}
		return d, nil
	}
	return reject(channel.Delivery{}, "neither MessageSid nor CallSid: not a twilio messaging or voice callback"), nil
}

func message(p url.Values, typ, sid, status string) (channel.Draft, string) {
	// The customer is the far end: the sender of an inbound message, the
	// recipient of an outbound one.
	phone := p.Get("To")
	if typ == TypeMessageReceived {
		phone = p.Get("From")
	}
	if phone == "" {
		return channel.Draft{}, fmt.Sprintf("twilio message %s (%s) has no customer number (From/To)", sid, status)
	}
	a := map[string]any{
		"provider_event": status,
		"message_sid":    sid,
		"status":         status,
	}
	channel.SetNonEmpty(a, "account_sid", p.Get("AccountSid"))
	channel.SetNonEmpty(a, "messaging_service_sid", p.Get("MessagingServiceSid"))
	channel.SetNonEmpty(a, "from", p.Get("From"))
	channel.SetNonEmpty(a, "to", p.Get("To"))
	if typ == TypeMessageReceived {
		channel.SetNonEmpty(a, "body", p.Get("Body"))
		setInt(a, "num_media", p.Get("NumMedia"))
		setInt(a, "num_segments", p.Get("NumSegments"))
	}
	setInt(a, "error_code", p.Get("ErrorCode"))
	channel.SetNonEmpty(a, "error_message", p.Get("ErrorMessage"))
	channel.SetNonEmpty(a, "raw_dlr_done_date", p.Get("RawDlrDoneDate"))
	return channel.Draft{Type: typ, Customer: events.Customer{Phone: phone}, Attributes: a}, ""
}

func call(p url.Values, typ, sid, status string) (channel.Draft, string) {
	dir := p.Get("Direction")
	phone := p.Get("To")
	if dir == "inbound" {
		phone = p.Get("From")
	}
	if phone == "" {
		return channel.Draft{}, fmt.Sprintf("twilio call %s has no customer number (From/To)", sid)
	}
	a := map[string]any{
		"provider_event": status,
		"call_sid":       sid,
		"status":         status,
	}
	channel.SetNonEmpty(a, "account_sid", p.Get("AccountSid"))
	channel.SetNonEmpty(a, "parent_call_sid", p.Get("ParentCallSid"))
	channel.SetNonEmpty(a, "direction", dir)
	channel.SetNonEmpty(a, "from", p.Get("From"))
	channel.SetNonEmpty(a, "to", p.Get("To"))
	setInt(a, "duration", p.Get("CallDuration"))
	channel.SetNonEmpty(a, "answered_by", p.Get("AnsweredBy"))
	channel.SetNonEmpty(a, "callback_source", p.Get("CallbackSource"))
	setInt(a, "sequence_number", p.Get("SequenceNumber"))
	var at time.Time
	if ts := p.Get("Timestamp"); ts != "" {
		if t, err := time.Parse(time.RFC1123Z, ts); err == nil {
			at = t.UTC()
		} else if t, err := time.Parse(time.RFC1123, ts); err == nil {
			at = t.UTC()
		}
	}
	return channel.Draft{Type: typ, OccurredAt: at, Customer: events.Customer{Phone: phone}, Attributes: a}, ""
}

// params reads the callback's parameters: a form body, a JSON object body,
// or (a GET callback) the URL's query.
func params(req channel.Request) (url.Values, error) {
	body := bytes.TrimSpace(req.Body)
	switch {
	case len(body) == 0:
		u, err := url.Parse(req.URL)
		if err != nil {
			return nil, fmt.Errorf("empty body and unreadable URL: %v", err)
		}
		return u.Query(), nil
	case body[0] == '{':
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("JSON body: %v", err)
		}
		p := make(url.Values, len(m))
		for k, v := range m {
			switch v := v.(type) {
			case string:
				p.Set(k, v)
			case json.Number:
				p.Set(k, v.String())
			case bool:
				p.Set(k, strconv.FormatBool(v))
			}
		}
		return p, nil
	}
	p, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("form body: %v", err)
	}
	return p, nil
}

func first(p url.Values, keys ...string) string {
	for _, k := range keys {
		if v := p.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// setInt stores numeric parameters as numbers so rules can compare them;
// anything else is kept as sent.
func setInt(a map[string]any, k, v string) {
	if v == "" {
		return
	}
	if n, err := strconv.Atoi(v); err == nil {
		a[k] = n
		return
	}
	a[k] = v
}
