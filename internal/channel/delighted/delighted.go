// Package delighted verifies Delighted webhook signatures and maps survey
// responses to survey.responded events.
//
// Signature (https://app.delighted.com/docs/api/webhooks): every webhook
// carries X-Delighted-Webhook-Signature, an HMAC-SHA256 digest of the raw
// request body keyed with the project's private API key, sent as
// "sha256=<hex digest>". A bare hex digest is accepted too. Delighted signs
// no timestamp, so there is no replay window; the channel secrets are the
// project's API keys.
//
// Option survey (nps, csat or ces; default nps) names the project's scale
// for payloads that do not say; a payload's own survey_type wins when it is
// one of those, and any other survey_type (smileys, thumbs, ...) is rejected
// because it has no canonical scale.
package delighted

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
)

// Kind is the registered kind name.
const Kind = "delighted"

// HeaderSignature carries the request signature.
const HeaderSignature = "X-Delighted-Webhook-Signature"

const sigPrefix = "sha256="

// Survey scales by survey name.
var scales = map[string][2]float64{"nps": {0, 10}, "csat": {1, 5}, "ces": {1, 7}}

func init() { channel.Register(Kind, New) }

// Scheme implements channel.Kind.
type Scheme struct {
	// Survey is the scale assumed when a payload has no survey_type.
	Survey string
}

// New builds a Scheme from channel options.
func New(opts channel.Options) (channel.Kind, error) {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "survey" {
			return nil, fmt.Errorf("unknown option %q (known: survey)", k)
		}
	}
	s := Scheme{Survey: "nps"}
	if v, ok := opts["survey"]; ok {
		if _, known := scales[v]; !known {
			return nil, fmt.Errorf("option survey is %q, want nps, csat or ces", v)
		}
		s.Survey = v
	}
	return s, nil
}

// Verify checks X-Delighted-Webhook-Signature against every active API key.
func (Scheme) Verify(req channel.Request, secrets []string, _ time.Time) error {
	sig := req.Header.Get(HeaderSignature)
	if sig == "" {
		return fmt.Errorf("%w: missing %s header", channel.ErrSignature, HeaderSignature)
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, sigPrefix))
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not sha256=<hex HMAC-SHA256>", channel.ErrSignature, HeaderSignature)
	}
	for _, key := range secrets {
		m := hmac.New(sha256.New, []byte(key))
		m.Write(req.Body)
		if hmac.Equal(m.Sum(nil), got) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s matches no active API key", channel.ErrSignature, HeaderSignature)
}

// Sign returns the X-Delighted-Webhook-Signature value for body.
func Sign(apiKey string, body []byte) string {
	m := hmac.New(sha256.New, []byte(apiKey))
	m.Write(body)
	return sigPrefix + hex.EncodeToString(m.Sum(nil))
}

// Payload is a Delighted webhook body.
type Payload struct {
	EventType string          `json:"event_type"`
	EventID   string          `json:"event_id"`
	EventData json.RawMessage `json:"event_data"`
}

// Response is a survey_response object (the part OCX reads).
type Response struct {
	ID               channel.ProviderID `json:"id"`
	Person           *Person            `json:"person"`
	SurveyType       string             `json:"survey_type"`
	Score            *float64           `json:"score"`
	Comment          string             `json:"comment"`
	Permalink        string             `json:"permalink"`
	CreatedAt        int64              `json:"created_at"`
	UpdatedAt        int64              `json:"updated_at"`
	PersonProperties map[string]any     `json:"person_properties"`
	Tags             []any              `json:"tags"`
}

// Person is the respondent.
type Person struct {
	ID          channel.ProviderID `json:"id"`
	Email       string             `json:"email"`
	PhoneNumber string             `json:"phone_number"`
	Name        string             `json:"name"`
}

// Parse maps one survey_response event to a draft. Each request is one
// item: index 0, and the whole body is the item.
func (s Scheme) Parse(req channel.Request) (channel.Delivery, error) {
	var p Payload
	if err := json.Unmarshal(req.Body, &p); err != nil {
		return channel.Delivery{}, fmt.Errorf("%w: %v", channel.ErrMalformed, err)
	}
	dr, err := s.draft(p)
	return channel.SingleItem(p.EventID, req.Body, dr, err), nil
}

// draft maps the survey response, or says why it cannot.
func (s Scheme) draft(p Payload) (channel.Draft, error) {
	if p.EventType == "unsubscribe.created" {
		// A person left the survey list: no answer, nothing to record.
		return channel.Draft{}, channel.Ignore(p.EventType)
	}
	updated := p.EventType == "survey_response.updated"
	if !updated && p.EventType != "survey_response.created" {
		return channel.Draft{}, fmt.Errorf("unknown delighted event type %q (mapped: survey_response.created, survey_response.updated)", p.EventType)
	}
	var r Response
	if err := json.Unmarshal(p.EventData, &r); err != nil {
		return channel.Draft{}, fmt.Errorf("delighted %s event_data is not a survey_response: %v", p.EventType, err)
	}
	if r.ID == "" {
		return channel.Draft{}, fmt.Errorf("delighted %s has no event_data.id", p.EventType)
	}
	survey := s.Survey
	if r.SurveyType != "" {
		if _, ok := scales[r.SurveyType]; !ok {
			return channel.Draft{}, fmt.Errorf("delighted survey_type %q has no canonical scale (nps, csat, ces)", r.SurveyType)
		}
		survey = r.SurveyType
	}
	if r.Score == nil {
		return channel.Draft{}, fmt.Errorf("delighted response %s has no score", r.ID)
	}
	score, scale := *r.Score, scales[survey]
	if score != math.Trunc(score) || score < scale[0] || score > scale[1] {
		return channel.Draft{}, fmt.Errorf("delighted %s score %g of response %s is outside %g-%g", survey, score, r.ID, scale[0], scale[1])
	}
	var cust events.Customer
	if r.Person != nil {
		cust = events.Customer{ID: string(r.Person.ID), Email: r.Person.Email, Phone: r.Person.PhoneNumber}
	}
	if cust.Empty() {
		return channel.Draft{}, fmt.Errorf("delighted response %s has no person id, email or phone", r.ID)
	}
	id, sec := string(r.ID), r.CreatedAt
	if updated {
		sec = r.UpdatedAt
		id += ":" + strconv.FormatInt(r.UpdatedAt, 10)
	}
	if sec == 0 {
		sec = max(r.CreatedAt, r.UpdatedAt)
	}
	if sec <= 0 {
		return channel.Draft{}, fmt.Errorf("delighted response %s has no created_at/updated_at", r.ID)
	}
	a := map[string]any{
		"provider_event": p.EventType,
		"survey":         survey,
		"score":          int(score),
		"response_id":    string(r.ID),
	}
	channel.SetNonEmpty(a, "survey_type", r.SurveyType)
	if r.Person != nil {
		channel.SetNonEmpty(a, "person_id", string(r.Person.ID))
	}
	channel.SetNonEmpty(a, "comment", r.Comment)
	channel.SetNonEmpty(a, "permalink", r.Permalink)
	if len(r.Tags) > 0 {
		a["tags"] = r.Tags
	}
	if len(r.PersonProperties) > 0 {
		a["person_properties"] = r.PersonProperties
	}
	return channel.Draft{
		ID:         id,
		Type:       events.TypeSurveyResponded,
		OccurredAt: time.Unix(sec, 0).UTC(),
		Customer:   cust,
		Attributes: a,
	}, nil
}
