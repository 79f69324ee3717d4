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

func TestParseKey(t *testing.T) {
	cases := []struct {
		in   string
		want Key
		bad  bool
	}{
		{in: "email: Ann@Example.COM", want: "email:ann@example.com"},
		{in: "phone:+44 20 7946 0958", want: "phone:+442079460958"},
		{in: "shopify:820982911946154508", want: "shopify:820982911946154508"},
		{in: "app:u:42", want: "app:u:42"},
		{in: "email:nope", bad: true},
		{in: "phone:020 7946 0958", bad: true},
		{in: "Shopify:1", bad: true},
		{in: "ann@example.com", bad: true},
		{in: "app:", bad: true},
	}
	for _, c := range cases {
		got, err := ParseKey(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("ParseKey(%q) = %q, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseKey(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if k := Key("phone:+15551234567"); k.Kind() != "phone" || k.Value() != "+15551234567" {
		t.Errorf("Kind/Value of %s = %s/%s", k, k.Kind(), k.Value())
	}
}

func TestSplit(t *testing.T) {
	const (
		email = Key("email:ann@example.com")
		phone = Key("phone:+15551234567")
		shop  = Key("shopify:1")
		card  = Key("stripe:cus_1")
		other = Key("app:u9")
	)
	cases := []struct {
		name      string
		absorbed  []Key
		claims    []Claim
		wantMoved []string
		wantKeys  []Key
	}{
		{
			name:      "claims carrying only absorbed keys move",
			absorbed:  []Key{phone},
			claims:    []Claim{{ID: "sms", Keys: []Key{phone}}, {ID: "ticket", Keys: []Key{email}}},
			wantMoved: []string{"sms"},
		},
		{
			name:     "the merge's cause carries both sides and stays",
			absorbed: []Key{phone},
			claims:   []Claim{{ID: "order", Keys: []Key{shop, email, phone}, Linked: []Key{shop}}},
		},
		{
			name:     "keys linked by a moving claim move, and what they reach follows",
			absorbed: []Key{phone},
			claims: []Claim{
				{ID: "pay", Keys: []Key{card}},
				{ID: "sms", Keys: []Key{card, phone}, Linked: []Key{card}},
			},
			wantMoved: []string{"pay", "sms"},
			wantKeys:  []Key{card},
		},
		{
			name:      "a claim whose keys were all new stays (it created the survivor)",
			absorbed:  []Key{phone},
			claims:    []Claim{{ID: "first", Keys: []Key{other}, Linked: []Key{other}}, {ID: "sms", Keys: []Key{phone}}},
			wantMoved: []string{"sms"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			moved, keys := Split(c.absorbed, c.claims)
			var got []string
			for _, cl := range c.claims {
				if moved[cl.ID] {
					got = append(got, cl.ID)
				}
			}
			if !reflect.DeepEqual(got, c.wantMoved) || !reflect.DeepEqual(keys, c.wantKeys) {
				t.Fatalf("Split moved %v and keys %v, want %v and %v", got, keys, c.wantMoved, c.wantKeys)
			}
		})
	}
}
