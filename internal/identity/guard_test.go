package identity

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadGuardrails(t *testing.T) {
	fsys := fstest.MapFS{"identity.yaml": {Data: []byte(`never_link:
  - email:NoReply@*
  - email:test@example.com
  - phone:+1 (555) 867-5310
limits:
  email: 3
  phone: 2
  stripe: 1
`)}}
	g, err := LoadGuardrails(fsys, "identity.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[Key]bool{
		"email:noreply@shop.example": true, "email:test@example.com": true, "phone:+15558675310": true,
		"email:ann@example.com": false, "phone:+15558675311": false, "stripe:cus_1": false,
	} {
		if got := g.Never(k); got != want {
			t.Errorf("Never(%s) = %v, want %v", k, got, want)
		}
	}
	if g.Limit("email") != 3 || g.Limit("stripe") != 1 || g.Limit("stripe.charge") != 0 {
		t.Errorf("limits %v", g.limits)
	}
	if over := g.Over([]Key{"stripe:a", "stripe:b", "email:x@y.z", "stripe.charge:1", "stripe.charge:2"}); strings.Join(over, ",") != "stripe" {
		t.Errorf("Over = %v", over)
	}
	usable, blocked := g.Usable([]Key{"zendesk:1", "email:noreply@x.com"})
	if len(usable) != 1 || len(blocked) != 1 {
		t.Errorf("Usable = %v, %v", usable, blocked)
	}
	// No file: no guardrails.
	if g, err := LoadGuardrails(fstest.MapFS{}, "identity.yaml"); err != nil || g.Never("email:noreply@x.com") {
		t.Errorf("missing file: %v", err)
	}
	var none *Guardrails
	if none.Never("email:a@b.c") || none.Limit("email") != 0 || none.Over([]Key{"email:a@b.c", "email:c@d.e"}) != nil {
		t.Error("nil guardrails guard something")
	}
}

func TestLoadGuardrailsReportsEveryProblemWithItsLine(t *testing.T) {
	fsys := fstest.MapFS{"identity.yaml": {Data: []byte(`never_link:
  - noreply
  - phone:5558675310
  - Bad Kind:x
limits:
  email: 0
  phone: many
  "stripe charge": 2
colour: blue
`)}}
	_, err := LoadGuardrails(fsys, "identity.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"identity.yaml:2: never_link value \"noreply\": want <kind>:<value>",
		"identity.yaml:3: never_link value \"phone:5558675310\": not an E.164 phone number",
		"identity.yaml:4: never_link value \"Bad Kind:x\": kind \"Bad Kind\"",
		"identity.yaml:6: limits: email must be at least 1",
		"identity.yaml:7: limits: phone must be a whole number",
		"identity.yaml:8: limits: kind \"stripe charge\"",
		"identity.yaml:9: unknown field \"colour\"",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
}

func TestRefKey(t *testing.T) {
	for ref, want := range map[string]Key{"charge:ch_1": "stripe.charge:ch_1", " order:42 ": "stripe.order:42", "Charge:x": "", "charge:": "", ":x": "", "charge:a b": ""} {
		got, ok := RefKey("stripe", ref)
		if got != want || ok != (want != "") {
			t.Errorf("RefKey(%q) = %q %v, want %q", ref, got, ok, want)
		}
	}
	if !Key("stripe.charge:ch_1").IsRef() || Key("stripe:cus_1").IsRef() {
		t.Error("IsRef")
	}
	if k, err := ParseKey("stripe.charge:ch_1"); err != nil || k != "stripe.charge:ch_1" {
		t.Errorf("ParseKey ref: %v %v", k, err)
	}
}
