// Package standardwebhooks verifies requests signed with the Standard
// Webhooks scheme (https://www.standardwebhooks.com) and reads OCX's in-house
// event format: one event or an array of them.
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

func init() { channel.Register(Kind, channel.Static(Scheme{})) }

// Scheme implements channel.Kind.
type Scheme struct{}

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

// Parse reads one event object or an array of them. Every event needs a
// type, at least one customer key and occurred_at.
func (Scheme) Parse(req channel.Request) (channel.Delivery, error) {
	body := bytes.TrimSpace(req.Body)
	var list []Event
	var err error
	if len(body) > 0 && body[0] == '[' {
		err = json.Unmarshal(body, &list)
	} else {
		var one Event
		err = json.Unmarshal(body, &one)
		list = []Event{one}
	}
	if err != nil {
		return channel.Delivery{}, fmt.Errorf("%w: %v", channel.ErrMalformed, err)
	}
	if len(list) == 0 {
		return channel.Delivery{}, fmt.Errorf("%w: empty event array", channel.ErrMalformed)
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
