// Package standardwebhooks verifies requests signed with the Standard
// Webhooks scheme (https://www.standardwebhooks.com) and reads two bodies:
// OCX's in-house event format (one event or an array of them), and the
// envelope the Standard Webhooks specification recommends,
// {"type", "timestamp", "data": {…}}, whose customer fields a channel's
// options locate inside data.
package standardwebhooks

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
)

// Kind is the registered kind name.
const Kind = "standardwebhooks"

// Tolerance is how far a signed timestamp may be from now, either way.
const Tolerance = 5 * time.Minute

// Header names defined by the spec.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

const secretPrefix = "whsec_"

func init() { channel.Register(Kind, New) }

// Scheme implements channel.Kind.
type Scheme struct {
	// paths locate the customer's id, email and phone inside an envelope's
	// data: for each, dotted paths tried in order.
	paths [3][]string
}

// Options a channel may set (channels.yaml), each a comma-separated list of
// dotted paths inside an envelope's data, tried in order.
const (
	OptionID    = "customer_id"
	OptionEmail = "customer_email"
	OptionPhone = "customer_phone"
)

// DefaultPaths are where an envelope's customer is looked for when the
// channel sets no option: data.customer.{id,email,phone}.
var DefaultPaths = [3]string{"customer.id", "customer.email", "customer.phone"}

// New builds the kind for one channel from its options.
func New(opts channel.Options) (channel.Kind, error) {
	var s Scheme
	for i, name := range []string{OptionID, OptionEmail, OptionPhone} {
		v, ok := opts[name]
		if !ok {
			v = DefaultPaths[i]
		}
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			if !validPath(p) {
				return nil, fmt.Errorf("option %s: %q is not a dotted path of names (e.g. user.email)", name, p)
			}
			s.paths[i] = append(s.paths[i], p)
		}
	}
	for k := range opts {
		if k != OptionID && k != OptionEmail && k != OptionPhone {
			return nil, fmt.Errorf("unknown option %q (known: %s, %s, %s)", k, OptionID, OptionEmail, OptionPhone)
		}
	}
	return s, nil
}

func validPath(p string) bool {
	if p == "" {
		return false
	}
	for seg := range strings.SplitSeq(p, ".") {
		if seg == "" {
			return false
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
				return false
			}
		}
	}
	return true
}

// Verify checks webhook-signature against every active secret. Any one valid
// signature from any one secret is enough, which is how rotation works.
func (Scheme) Verify(req channel.Request, secrets []string, now time.Time) error {
	id := req.Header.Get(HeaderID)
	ts := req.Header.Get(HeaderTimestamp)
	sigs := req.Header.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: need %s, %s and %s headers", channel.ErrSignature, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not unix seconds", channel.ErrSignature, HeaderTimestamp, ts)
	}
	if err := channel.CheckTimestamp(time.Unix(sec, 0), now, Tolerance); err != nil {
		return err
	}
	for _, secret := range secrets {
		key, err := DecodeSecret(secret)
		if err != nil {
			return err
		}
		want := Sign(key, id, sec, req.Body)
		for _, s := range strings.Fields(sigs) {
			version, sig, ok := strings.Cut(s, ",")
			if !ok || version != "v1" {
				continue
			}
			if hmac.Equal([]byte(sig), []byte(want)) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no v1 signature matches an active secret", channel.ErrSignature)
}

// DecodeSecret turns a "whsec_<base64>" secret into its key bytes.
func DecodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil {
		return nil, fmt.Errorf("channel secret is not whsec_<base64>: %w", err)
	}
	return key, nil
}

// EncodeSecret is the inverse of DecodeSecret.
func EncodeSecret(key []byte) string { return secretPrefix + base64.StdEncoding.EncodeToString(key) }

// Sign returns the base64 HMAC-SHA256 of "id.timestamp.body".
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Event is the in-house wire format (events/schemas/webhook.standard.json).
type Event struct {
	Type       string          `json:"type"`
	Customer   events.Customer `json:"customer"`
	OccurredAt *time.Time      `json:"occurred_at"`
	Attributes map[string]any  `json:"attributes"`
}

// Envelope is the body the Standard Webhooks specification recommends:
// a full-stop delimited type, an RFC 3339 timestamp and the event's data.
type Envelope struct {
	Type      string         `json:"type"`
	Timestamp *time.Time     `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// Parse reads one event object or an array of them, each in OCX's format
// or a Standard Webhooks envelope (told apart by its data object). Every
// event needs a type, at least one customer key and its time.
func (s Scheme) Parse(req channel.Request) (channel.Delivery, error) {
	body := bytes.TrimSpace(req.Body)
	var raws []json.RawMessage
	var err error
	if len(body) > 0 && body[0] == '[' {
		err = json.Unmarshal(body, &raws)
	} else {
		var one json.RawMessage
		err = json.Unmarshal(body, &one)
		raws = []json.RawMessage{one}
	}
	if err != nil {
		return channel.Delivery{}, fmt.Errorf("%w: %v", channel.ErrMalformed, err)
	}
	if len(raws) == 0 {
		return channel.Delivery{}, fmt.Errorf("%w: empty event array", channel.ErrMalformed)
	}
	list := make([]Event, len(raws))
	for i, raw := range raws {
		var probe struct {
			Data json.RawMessage `json:"data"`
		}
		_ = json.Unmarshal(raw, &probe)
		if len(probe.Data) > 0 {
			list[i], err = s.fromEnvelope(raw)
		} else {
			err = json.Unmarshal(raw, &list[i])
		}
		if err != nil {
			return channel.Delivery{}, fmt.Errorf("%w: event %d: %v", channel.ErrMalformed, i, err)
		}
	}
	d := channel.Delivery{ID: req.Header.Get(HeaderID), Events: make([]channel.Draft, 0, len(list))}
	for i, e := range list {
		if err := e.check(); err != nil {
			return channel.Delivery{}, fmt.Errorf("%w: event %d: %v", channel.ErrMalformed, i, err)
		}
		attrs := e.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		d.Events = append(d.Events, channel.Draft{Type: e.Type, OccurredAt: e.OccurredAt.UTC(), Customer: e.Customer, Attributes: attrs})
	}
	return d, nil
}

// fromEnvelope reads a Standard Webhooks envelope as an event: its type,
// its timestamp as occurred_at, the customer found at the channel's paths
// in data, and data itself as the attributes.
func (s Scheme) fromEnvelope(raw []byte) (Event, error) {
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&env); err != nil {
		return Event{}, fmt.Errorf("standard webhooks envelope: %v", err)
	}
	if env.Data == nil {
		return Event{}, fmt.Errorf("standard webhooks envelope: data must be an object")
	}
	if env.Timestamp == nil {
		return Event{}, fmt.Errorf("standard webhooks envelope: missing timestamp (RFC 3339)")
	}
	// Ids are looked up in a copy that keeps numbers as written: a 64-bit
	// id does not survive a float64.
	var exact struct {
		Data map[string]any `json:"data"`
	}
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&exact)
	var c events.Customer
	for i, dst := range []*string{&c.ID, &c.Email, &c.Phone} {
		for _, p := range s.paths[i] {
			if v := lookup(exact.Data, p); v != "" {
				*dst = v
				break
			}
		}
	}
	if c.Empty() {
		return Event{}, fmt.Errorf("standard webhooks envelope: no customer at data.%s, data.%s or data.%s (set customer_id, customer_email or customer_phone in channels.yaml)",
			strings.Join(s.paths[0], "|"), strings.Join(s.paths[1], "|"), strings.Join(s.paths[2], "|"))
	}
	return Event{Type: env.Type, Customer: c, OccurredAt: env.Timestamp, Attributes: exact.Data}, nil
}

// lookup reads the string (or number, as written) at a dotted path.
func lookup(m map[string]any, path string) string {
	var cur any = m
	for seg := range strings.SplitSeq(path, ".") {
		o, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = o[seg]
	}
	switch v := cur.(type) {
	case string:
		return strings.TrimSpace(v)
	case json.Number:
		return v.String()
	}
	return ""
}

func (e Event) check() error {
	switch {
	case e.Type == "":
		return fmt.Errorf("missing type")
	case !validType(e.Type):
		return fmt.Errorf("type %q must be lower-case noun.verb", e.Type)
	case e.Customer.Empty():
		return fmt.Errorf("customer needs at least one of id, email, phone")
	case e.OccurredAt == nil:
		return fmt.Errorf("missing occurred_at (RFC 3339)")
	}
	if e.Type == events.TypeSurveyResponded {
		return checkSurvey(e.Attributes)
	}
	return nil
}

// checkSurvey rejects answers outside their scale so a typo never skews a score.
func checkSurvey(a map[string]any) error {
	scales := map[string][2]float64{"nps": {0, 10}, "csat": {1, 5}, "ces": {1, 7}}
	name, _ := a["survey"].(string)
	scale, ok := scales[name]
	if !ok {
		return fmt.Errorf("attributes.survey must be one of nps, csat, ces")
	}
	score, ok := a["score"].(float64)
	if n, isNum := a["score"].(json.Number); isNum {
		f, err := n.Float64()
		score, ok = f, err == nil
	}
	if !ok || score != float64(int(score)) || score < scale[0] || score > scale[1] {
		return fmt.Errorf("attributes.score must be an integer %g-%g for %s", scale[0], scale[1], name)
	}
	return nil
}

func validType(t string) bool {
	noun, verb, ok := strings.Cut(t, ".")
	if !ok || noun == "" || verb == "" {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}
