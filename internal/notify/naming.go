package notify

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/ocxhq/ocx/events"
)

// How alerts show the customer's identity (OCX_NOTIFY_IDENTITY).
const (
	// IdentityShow names the customer by the email or phone the channels
	// gave (the default).
	IdentityShow = "show"
	// IdentityMask shows enough to recognise: a••@example.com, •••••2661.
	IdentityMask = "mask"
	// IdentityNone shows the OCX id only, for teams that must not see
	// personal data.
	IdentityNone = "none"
)

// Naming says how a receiver names customers and where it links them: a
// support lead reads "ann@example.com", not "cus_3f9a…", and opens the
// customer's and the failure's console pages from the alert.
type Naming struct {
	// ConsoleURL is the console's public URL (OCX_CONSOLE_URL); empty
	// means no links.
	ConsoleURL string
	// Identity is IdentityShow, IdentityMask or IdentityNone; empty means
	// IdentityShow.
	Identity string
}

// ValidIdentity reports whether v is a setting Naming knows.
func ValidIdentity(v string) bool {
	return v == "" || v == IdentityShow || v == IdentityMask || v == IdentityNone
}

// Customer names the failure's customer: the email, else the phone, the
// evidence carried (as the channel gave it), masked per the setting; the
// OCX id when there is none or the setting says so; "" with no customer.
func (n Naming) Customer(f events.Failure) string {
	if n.Identity == IdentityNone {
		return f.CustomerID
	}
	email, phone := "", ""
	for _, e := range f.Evidence {
		if email == "" && e.Customer.Email != "" {
			email = e.Customer.Email
		}
		if phone == "" && e.Customer.Phone != "" {
			phone = e.Customer.Phone
		}
	}
	switch {
	case email != "" && n.Identity == IdentityMask:
		return MaskEmail(email)
	case email != "":
		return email
	case phone != "" && n.Identity == IdentityMask:
		return MaskPhone(phone)
	case phone != "":
		return phone
	}
	return f.CustomerID
}

// CustomerURL is the console page of customer id, or "".
func (n Naming) CustomerURL(id string) string { return n.page("customers", id) }

// FailureURL is the console page of failure id, or "".
func (n Naming) FailureURL(id string) string { return n.page("failures", id) }

func (n Naming) page(kind, id string) string {
	if n.ConsoleURL == "" || id == "" {
		return ""
	}
	u, err := url.Parse(n.ConsoleURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return strings.TrimRight(n.ConsoleURL, "/") + "/#/" + kind + "/" + url.PathEscape(id)
}

// MaskEmail keeps the first character of the local part and the domain.
func MaskEmail(e string) string {
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" {
		return "•••"
	}
	r, _ := utf8.DecodeRuneInString(local)
	return string(r) + "••@" + domain
}

// MaskPhone keeps the last four digits.
func MaskPhone(p string) string {
	if len(p) <= 4 {
		return "•••"
	}
	return "•••••" + p[len(p)-4:]
}
