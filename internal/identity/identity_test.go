package identity

import (
	"reflect"
	"testing"

	"github.com/ocxhq/ocx/events"
)

func TestKeys(t *testing.T) {
	got := Keys("app", events.Customer{ID: " u42 ", Email: " Ann@Example.COM", Phone: "+1 (555) 123-4567"})
	want := []Key{"app:u42", "email:ann@example.com", "phone:+15551234567"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Keys = %q, want %q", got, want)
	}
}

func TestPhone(t *testing.T) {
	cases := map[string]string{
		"+44 20 7946 0958":  "+442079460958",
		"0044 20 7946 0958": "+442079460958",
		"020 7946 0958":     "",
		"+1 555 CALL NOW":   "",
		"+123":              "",
		"+1234567890123456": "",
	}
	for in, want := range cases {
		if got := Phone(in); got != want {
			t.Errorf("Phone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEmail(t *testing.T) {
	cases := map[string]string{"A@B.C": "a@b.c", "nope": "", "@b.c": "", "a@": "", "a b@c.d": ""}
	for in, want := range cases {
		if got := Email(in); got != want {
			t.Errorf("Email(%q) = %q, want %q", in, got, want)
		}
	}
}
