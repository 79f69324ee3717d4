package identity

import (
	"strings"
	"unicode/utf8"

	"github.com/ocxhq/ocx/events"
)

// Bounds on identity values, far below DynamoDB's 2,048-byte partition
// key so a key with its prefixes always fits: an address is at most 254
// characters (RFC 5321), a provider id at most MaxIDBytes.
const (
	MaxEmailBytes = 254
	MaxIDBytes    = 256
)

// Dropped is an identity value that cannot be used, and why.
type Dropped struct {
	Field  string // "id", "email", "phone" or "refs"
	Reason string
}

// Validate keeps the customer's usable identity values, normalised, and
// reports each one it drops. The values themselves are not repeated in
// the reasons: they are personal data.
func Validate(c events.Customer) (events.Customer, []Dropped) {
	var out events.Customer
	var dropped []Dropped
	if c.ID != "" {
		id := strings.TrimSpace(c.ID)
		switch {
		case id == "":
			dropped = append(dropped, Dropped{"id", "blank"})
		case len(id) > MaxIDBytes:
			dropped = append(dropped, Dropped{"id", "longer than 256 bytes"})
		case !utf8.ValidString(id) || strings.ContainsFunc(id, isControl):
			dropped = append(dropped, Dropped{"id", "contains control characters or invalid UTF-8"})
		default:
			out.ID = id
		}
	}
	if c.Email != "" {
		e := Email(c.Email)
		switch {
		case e == "":
			dropped = append(dropped, Dropped{"email", "not an email address"})
		case len(e) > MaxEmailBytes:
			dropped = append(dropped, Dropped{"email", "longer than 254 characters"})
		case !utf8.ValidString(e) || strings.ContainsFunc(e, isControl):
			dropped = append(dropped, Dropped{"email", "contains control characters or invalid UTF-8"})
		default:
			out.Email = e
		}
	}
	if c.Phone != "" {
		if p := Phone(c.Phone); p != "" {
			out.Phone = p
		} else {
			dropped = append(dropped, Dropped{"phone", "not an E.164 number (+, country code, 8-15 digits)"})
		}
	}
	for _, r := range c.Refs {
		if _, ok := RefKey("x", r); ok && utf8.ValidString(r) && !strings.ContainsFunc(r, isControl) {
			out.Refs = append(out.Refs, strings.TrimSpace(r))
		} else {
			dropped = append(dropped, Dropped{"refs", "not <object>:<id>"})
		}
	}
	return out, dropped
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
