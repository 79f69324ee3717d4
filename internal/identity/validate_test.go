package identity

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ocxhq/ocx/events"
)

func TestValidateDropsWhatCannotBeUsed(t *testing.T) {
	cases := []struct {
		name    string
		in      events.Customer
		want    events.Customer
		dropped []string
	}{
		{"all good", events.Customer{ID: " u1 ", Email: "Ann@Example.com", Phone: "+44 7946 000000"}, events.Customer{ID: "u1", Email: "ann@example.com", Phone: "+447946000000"}, nil},
		{"not an email", events.Customer{ID: "u1", Email: "not-an-email"}, events.Customer{ID: "u1"}, []string{"email"}},
		{"no domain", events.Customer{Email: "a@"}, events.Customer{}, []string{"email"}},
		{"national number", events.Customer{Phone: "07946 000000", Email: "a@b.c"}, events.Customer{Email: "a@b.c"}, []string{"phone"}},
		{"too short", events.Customer{Phone: "+0"}, events.Customer{}, []string{"phone"}},
		{"blank id", events.Customer{ID: " "}, events.Customer{}, []string{"id"}},
		{"huge email", events.Customer{Email: strings.Repeat("a", 5000) + "@example.com"}, events.Customer{}, []string{"email"}},
		{"huge id", events.Customer{ID: strings.Repeat("9", 3000)}, events.Customer{}, []string{"id"}},
		{"control id", events.Customer{ID: "a\x00b"}, events.Customer{}, []string{"id"}},
		{"refs kept", events.Customer{Refs: []string{"charge:ch_1", " ", "no-colon"}}, events.Customer{Refs: []string{"charge:ch_1"}}, []string{"refs", "refs"}},
	}
	for _, c := range cases {
		got, dropped := Validate(c.in)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: kept %+v, want %+v", c.name, got, c.want)
		}
		var fields []string
		for _, d := range dropped {
			fields = append(fields, d.Field)
			if d.Reason == "" || strings.Contains(d.Reason, "@") {
				t.Errorf("%s: reason %q (empty or repeating the value)", c.name, d.Reason)
			}
		}
		if strings.Join(fields, ",") != strings.Join(c.dropped, ",") {
			t.Errorf("%s: dropped %v, want %v", c.name, fields, c.dropped)
		}
	}
}
