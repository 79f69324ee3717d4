package notify

import (
	"testing"

	"github.com/ocxhq/ocx/events"
)

func TestNaming(t *testing.T) {
	withEmail := events.Failure{ID: "flr_1", CustomerID: "cus_ab", Evidence: []events.Evidence{
		{Customer: events.Customer{Phone: "+14017122661"}}, {Customer: events.Customer{Email: "Ann@Example.com"}}}}
	withPhone := events.Failure{ID: "flr_2", CustomerID: "cus_cd", Evidence: []events.Evidence{{Customer: events.Customer{Phone: "+14017122661"}}}}
	anonymous := events.Failure{ID: "flr_3", CustomerID: "cus_ef"}
	cases := []struct {
		identity string
		f        events.Failure
		want     string
	}{
		{"", withEmail, "Ann@Example.com"},
		{IdentityShow, withPhone, "+14017122661"},
		{IdentityMask, withEmail, "A••@Example.com"},
		{IdentityMask, withPhone, "•••••2661"},
		{IdentityNone, withEmail, "cus_ab"},
		{IdentityShow, anonymous, "cus_ef"},
		{IdentityShow, events.Failure{}, ""},
	}
	for _, c := range cases {
		if got := (Naming{Identity: c.identity}).Customer(c.f); got != c.want {
			t.Errorf("%q %s: %q, want %q", c.identity, c.f.ID, got, c.want)
		}
	}
	n := Naming{ConsoleURL: "https://ocx.example.com/"}
	if got := n.FailureURL("flr_1"); got != "https://ocx.example.com/#/failures/flr_1" {
		t.Errorf("failure URL %q", got)
	}
	if got := n.CustomerURL("cus_ab"); got != "https://ocx.example.com/#/customers/cus_ab" {
		t.Errorf("customer URL %q", got)
	}
	for _, bad := range []string{"", "javascript:alert(1)", "ocx.example.com"} {
		if got := (Naming{ConsoleURL: bad}).FailureURL("flr_1"); got != "" {
			t.Errorf("console URL %q gave link %q", bad, got)
		}
	}
}
