// Package typeform verifies Typeform webhook signatures and maps a
// form_response to one survey.responded event per configured score
// question.
//
// Signature (https://www.typeform.com/developers/webhooks/secure-your-webhooks/):
// Typeform-Signature is "sha256=" + base64(HMAC-SHA256(webhook secret, raw
// body)). Typeform signs no timestamp, so there is no replay window.
//
// Options name the questions (by field ref) that carry scores:
//
//	nps_ref   an NPS question, 0-10
//	csat_ref  a CSAT question, 1-5
//	ces_ref   a CES question, 1-7
//
// At least one is required. Answers must be numbers (number, opinion_scale
// or rating questions); an answer off its scale is rejected. The customer
// comes from hidden fields (email, customer_id or user_id), else from an
// email (or phone_number) answer.
package typeform

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/channel"
)

// Kind is the registered kind name.
const Kind = "typeform"

// HeaderSignature carries the request signature.
const HeaderSignature = "Typeform-Signature"

const sigPrefix = "sha256="

// Scale is a survey's score range.
type Scale struct {
	Survey   string
	Min, Max float64
}

// Survey options in the order drafts are emitted.
var scales = []struct {
	option string
	Scale
}{
	{"nps_ref", Scale{"nps", 0, 10}},
	{"csat_ref", Scale{"csat", 1, 5}},
	{"ces_ref", Scale{"ces", 1, 7}},
}

func init() { channel.Register(Kind, New) }

// Scheme implements channel.Kind for one form's question refs.
type Scheme struct {
	refs []ref
}

type ref struct {
	ref string
	Scale
}

// New builds a Scheme from channel options.
func New(opts channel.Options) (channel.Kind, error) {
	known := make([]string, len(scales))
	for i, s := range scales {
		known[i] = s.option
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !contains(known, k) {
			return nil, fmt.Errorf("unknown option %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	var s Scheme
	seen := map[string]string{}
	for _, sc := range scales {
		v := strings.TrimSpace(opts[sc.option])
		if v == "" {
			if _, set := opts[sc.option]; set {
				return nil, fmt.Errorf("option %s is empty", sc.option)
			}
			continue
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("options %s and %s name the same question %q", other, sc.option, v)
		}
		seen[v] = sc.option
		s.refs = append(s.refs, ref{v, sc.Scale})
	}
	if len(s.refs) == 0 {
		return nil, fmt.Errorf("needs at least one of nps_ref, csat_ref, ces_ref (the field ref of the score question)")
	}
	return s, nil
}

// Verify checks Typeform-Signature against every active webhook secret.
func (Scheme) Verify(req channel.Request, secrets []string, _ time.Time) error {
	sig := req.Header.Get(HeaderSignature)
	if sig == "" {
		return fmt.Errorf("%w: missing %s header (is a secret set on the typeform webhook?)", channel.ErrSignature, HeaderSignature)
	}
	if !strings.HasPrefix(sig, sigPrefix) {
		return fmt.Errorf("%w: %s is not sha256=<base64>", channel.ErrSignature, HeaderSignature)
	}
	for _, secret := range secrets {
		if hmac.Equal([]byte(Sign(secret, req.Body)), []byte(sig)) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s matches no active secret", channel.ErrSignature, HeaderSignature)
}

// Sign returns the Typeform-Signature value for body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return sigPrefix + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Payload is the part of a Typeform webhook OCX reads.
type Payload struct {
	EventID      string        `json:"event_id"`
	EventType    string        `json:"event_type"`
	FormResponse *FormResponse `json:"form_response"`
}

// FormResponse is one submission.
type FormResponse struct {
	FormID      string         `json:"form_id"`
	Token       string         `json:"token"`
	SubmittedAt string         `json:"submitted_at"`
	Hidden      map[string]any `json:"hidden"`
	Definition  struct {
		Title  string  `json:"title"`
		Fields []Field `json:"fields"`
	} `json:"definition"`
	Answers []json.RawMessage `json:"answers"`
}

// Field identifies a question.
type Field struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Ref  string `json:"ref"`
}

// Answer is one answer; which value field is set depends on Type.
type Answer struct {
	Type        string   `json:"type"`
	Field       Field    `json:"field"`
	Number      *float64 `json:"number"`
	Text        string   `json:"text"`
	Email       string   `json:"email"`
	PhoneNumber string   `json:"phone_number"`
}

// Parse maps a form_response to survey.responded drafts, one per configured
// question answered. A bad answer is rejected with its index in answers and
// its JSON; a response that cannot be mapped at all is rejected whole.
func (s Scheme) Parse(req channel.Request) (channel.Delivery, error) {
	var p Payload
	if err := json.Unmarshal(req.Body, &p); err != nil {
		return channel.Delivery{}, fmt.Errorf("%w: %v", channel.ErrMalformed, err)
	}
	d := channel.Delivery{ID: p.EventID}
	reject := func(format string, args ...any) (channel.Delivery, error) {
		d.Rejects = append(d.Rejects, channel.Reject{Reason: fmt.Sprintf(format, args...), Item: req.Body})
		return d, nil
	}
	if p.EventType == "form_response_partial" {
		// A respondent still answering: the completed form_response follows.
		d.Ignored = []channel.Ignored{{Type: p.EventType}}
		return d, nil
	}
	if p.EventType != "form_response" {
		return reject("unknown typeform event type %q (mapped: form_response)", p.EventType)
	}
	r := p.FormResponse
	if r == nil || r.Token == "" {
		return reject("typeform form_response has no form_response.token")
	}
	if d.ID == "" {
		d.ID = r.Token
	}
	at, err := time.Parse(time.RFC3339, r.SubmittedAt)
	if err != nil {
		return reject("typeform response %s has no RFC 3339 submitted_at", r.Token)
	}
	refOf := make(map[string]string, len(r.Definition.Fields))
	for _, f := range r.Definition.Fields {
		refOf[f.ID] = f.Ref
	}
	answers := make([]Answer, len(r.Answers))
	for i, raw := range r.Answers {
		if err := json.Unmarshal(raw, &answers[i]); err != nil {
			answers[i] = Answer{}
			continue
		}
		if answers[i].Field.Ref == "" {
			answers[i].Field.Ref = refOf[answers[i].Field.ID]
		}
	}
	cust, comment := customer(r.Hidden, answers)
	if cust.Empty() {
		return reject("typeform response %s has no customer: add a hidden field email, customer_id or user_id, or an email question", r.Token)
	}
	found := false
	for _, q := range s.refs {
		i := indexOf(answers, q.ref)
		if i < 0 {
			continue
		}
		found = true
		a := answers[i]
		if a.Number == nil {
			d.Rejects = append(d.Rejects, channel.Reject{Index: i, Item: r.Answers[i],
				Reason: fmt.Sprintf("%s question %q answered with %s, want a number", q.Survey, q.ref, describe(a))})
			continue
		}
		n := *a.Number
		if n != math.Trunc(n) || n < q.Min || n > q.Max {
			d.Rejects = append(d.Rejects, channel.Reject{Index: i, Item: r.Answers[i],
				Reason: fmt.Sprintf("%s answer %g to %q is outside %g-%g", q.Survey, n, q.ref, q.Min, q.Max)})
			continue
		}
		attrs := map[string]any{
			"provider_event": p.EventType,
			"survey":         q.Survey,
			"score":          int(n),
			"form_id":        r.FormID,
			"response_token": r.Token,
			"question_ref":   q.ref,
		}
		channel.SetNonEmpty(attrs, "question_type", a.Field.Type)
		channel.SetNonEmpty(attrs, "form_title", r.Definition.Title)
		channel.SetNonEmpty(attrs, "comment", comment)
		d.Events = append(d.Events, channel.Draft{
			ID:         r.Token + ":" + q.ref,
			Type:       events.TypeSurveyResponded,
			OccurredAt: at.UTC(),
			Customer:   cust,
			Attributes: attrs,
		})
	}
	if !found {
		return reject("typeform response %s answers none of the configured questions (%s)", r.Token, s.refNames())
	}
	return d, nil
}

// customer reads identity keys from hidden fields, then answers, and picks
// the first long_text answer as the comment.
func customer(hidden map[string]any, answers []Answer) (events.Customer, string) {
	var c events.Customer
	str := func(k string) string { v, _ := hidden[k].(string); return strings.TrimSpace(v) }
	c.Email = str("email")
	c.ID = str("customer_id")
	if c.ID == "" {
		c.ID = str("user_id")
	}
	c.Phone = str("phone")
	var comment string
	for _, a := range answers {
		switch {
		case a.Type == "email" && c.Email == "":
			c.Email = a.Email
		case a.Type == "phone_number" && c.Phone == "":
			c.Phone = a.PhoneNumber
		case a.Field.Type == "long_text" && comment == "":
			comment = a.Text
		}
	}
	return c, comment
}

func indexOf(answers []Answer, ref string) int {
	for i, a := range answers {
		if a.Field.Ref == ref {
			return i
		}
	}
	return -1
}

func describe(a Answer) string {
	if a.Type == "" {
		return "an unreadable answer"
	}
	return "a " + a.Type + " answer"
}

func (s Scheme) refNames() string {
	names := make([]string, len(s.refs))
	for i, r := range s.refs {
		names[i] = fmt.Sprintf("%s_ref=%s", r.Survey, r.ref)
	}
	return strings.Join(names, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
