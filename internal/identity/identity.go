// Package identity turns the customer fields a channel supplies into
// normalised identity keys, so the same person is recognised whichever
// channel they use.
package identity

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ocxhq/ocx/events"
)

// Key is a normalised identity key: "email:ann@example.com",
// "phone:+15551234567" or "<channel>:<provider id>".
type Key string

// Keys returns the customer's keys, strongest first: the channel's own id,
// then email, then phone, then the channel's objects that belong to the
// customer ("<channel>.<object>:<id>", e.g. "stripe.charge:ch_…").
func Keys(channel string, c events.Customer) []Key {
	var out []Key
	if id := strings.TrimSpace(c.ID); id != "" {
		out = append(out, Key(channel+":"+id))
	}
	if e := Email(c.Email); e != "" {
		out = append(out, Key("email:"+e))
	}
	if p := Phone(c.Phone); p != "" {
		out = append(out, Key("phone:"+p))
	}
	for _, r := range c.Refs {
		if k, ok := RefKey(channel, r); ok && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// RefKey is the key of a channel object a customer owns: ref is
// "<object>:<id>" as events.Customer.Refs holds it. ok is false for a ref
// of another shape, which is not used.
func RefKey(channel, ref string) (Key, bool) {
	obj, id, ok := strings.Cut(strings.TrimSpace(ref), ":")
	if !ok || !refObject(obj) || id == "" || len(id) > 200 || strings.ContainsAny(id, " \t\r\n") {
		return "", false
	}
	return Key(channel + "." + obj + ":" + id), true
}

// IsRef reports whether k names a channel object rather than a person.
func (k Key) IsRef() bool { return strings.Contains(k.Kind(), ".") }

// refObject is the shape of a referenced object's kind: ^[a-z][a-z_]{0,31}$.
func refObject(s string) bool { return word(s, 32, "_") }

// word says whether s is a lower-case letter followed by lower-case
// letters or the bytes of extra, max bytes in all. The functions check
// these shapes on every event; written out, they cost no regexp
// compilation at a cold start.
func word(s string, max int, extra string) bool {
	if len(s) == 0 || len(s) > max || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && !strings.ContainsRune(extra, rune(c)) {
			return false
		}
	}
	return true
}

// Email lower-cases and trims an address; it returns "" for anything that
// is not shaped like one.
func Email(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n") {
		return ""
	}
	return s
}

// Phone reduces a number to E.164 form (+ and digits). Numbers without a
// country code cannot be placed and are returned as "".
func Phone(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if !strings.HasPrefix(s, "+") {
		return ""
	}
	var b strings.Builder
	b.WriteByte('+')
	for _, r := range s[1:] {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
		default:
			return ""
		}
	}
	// E.164 allows at most 15 digits; fewer than 8 is not a real number.
	if n := b.Len() - 1; n < 8 || n > 15 {
		return ""
	}
	return b.String()
}

// Kind is what a key identifies: "email", "phone" or the channel whose id
// it is.
func (k Key) Kind() string {
	kind, _, _ := strings.Cut(string(k), ":")
	return kind
}

// Value is the key without its kind: the address, number or provider id.
func (k Key) Value() string {
	_, v, _ := strings.Cut(string(k), ":")
	return v
}

// ParseKey reads a key as an operator writes it ("email:Ann@Example.com",
// "phone:+44 20 7946 0958", "shopify:820982911") and normalises it the way
// ingest does, so a lookup finds what the journey function stored.
func ParseKey(s string) (Key, error) {
	kind, v, ok := strings.Cut(strings.TrimSpace(s), ":")
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return "", fmt.Errorf("identity key %q: want <kind>:<value>, e.g. email:ann@example.com", s)
	}
	switch kind {
	case "email":
		if e := Email(v); e != "" {
			return Key("email:" + e), nil
		}
		return "", fmt.Errorf("identity key %q: not an email address", s)
	case "phone":
		if p := Phone(v); p != "" {
			return Key("phone:" + p), nil
		}
		return "", fmt.Errorf("identity key %q: not an E.164 phone number (+ and country code)", s)
	}
	if !keyKind(kind) {
		return "", fmt.Errorf("identity key %q: kind %q is neither email, phone nor a channel id", s, kind)
	}
	return Key(kind + ":" + v), nil
}

// keyKind is the shape of a channel id (see infra/config/channels.yaml),
// optionally with the object a ref key names ("stripe.charge").
func keyKind(s string) bool {
	channel, object, dotted := strings.Cut(s, ".")
	return word(channel, 63, "0123456789-") && (!dotted || refObject(object))
}

// ChannelID says whether s has the shape of a channel id:
// ^[a-z][a-z0-9-]{0,62}$.
func ChannelID(s string) bool { return word(s, 63, "0123456789-") }
