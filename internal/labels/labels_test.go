package labels

import (
	"testing"

	"github.com/ocxhq/ocx/events"
)

func TestMatch(t *testing.T) {
	s := Set{"team": "digital", "channel": "sendgrid", "severity": "warning"}
	tests := []struct {
		matcher string
		want    bool
	}{
		{"team=digital", true},
		{"team = payments", false},
		{"team!=payments", true},
		{`channel=~"send.*|ses"`, true},
		{"channel=~send", false}, // anchored: a part does not match
		{"channel!~ses", true},
		{"journey=", true}, // a missing label reads as empty
		{"journey!=", false},
		{`severity="warning"`, true},
	}
	for _, tt := range tests {
		m, err := Parse(tt.matcher)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.matcher, err)
		}
		if got := m.Matches(s); got != tt.want {
			t.Errorf("%q matches %v = %v, want %v", tt.matcher, s, got, tt.want)
		}
		back, err := Parse(m.String())
		if err != nil || back.String() != m.String() {
			t.Errorf("round trip of %q: %q, %v", tt.matcher, back.String(), err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", "team", "=x", "9team=x", "team=~(", `team="unterminated`, "team<x"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) succeeded", s)
		}
	}
}

func TestOf(t *testing.T) {
	s := Of(events.Failure{RuleID: "email.bounced", Team: "digital", Severity: "warning", Labels: map[string]string{"channel": "ses", "team": "ignored"}})
	if s["rule"] != "email.bounced" || s["team"] != "digital" || s["channel"] != "ses" || s["severity"] != "warning" {
		t.Fatalf("Of = %v", s)
	}
}
