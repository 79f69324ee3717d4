package inhibit

import (
	"testing"

	"github.com/ocxhq/ocx/internal/labels"
)

func must(t *testing.T, ss ...string) []labels.Matcher {
	t.Helper()
	ms, err := labels.ParseAll(ss)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestMuted(t *testing.T) {
	rules := []Rule{{Source: must(t, "rule=email.bounce_rate"), Target: must(t, "rule=email.bounced"), Equal: []string{"channel"}}}
	rate := labels.Set{"rule": "email.bounce_rate", "channel": "sendgrid"}
	sources := map[string]labels.Set{"f-rate": rate}
	tests := []struct {
		name   string
		id     string
		target labels.Set
		want   bool
	}{
		{"bounce on the same channel", "f1", labels.Set{"rule": "email.bounced", "channel": "sendgrid"}, true},
		{"bounce on another channel", "f2", labels.Set{"rule": "email.bounced", "channel": "ses"}, false},
		{"another rule", "f3", labels.Set{"rule": "nps.detractor", "channel": "sendgrid"}, false},
		{"the source itself", "f-rate", rate, false},
	}
	for _, tt := range tests {
		if got := Muted(rules, tt.id, tt.target, sources); got != tt.want {
			t.Errorf("%s: Muted = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !IsSource(rules, rate) || IsSource(rules, labels.Set{"rule": "email.bounced"}) {
		t.Error("IsSource is wrong")
	}
	if Muted(rules, "f1", labels.Set{"rule": "email.bounced", "channel": "sendgrid"}, nil) {
		t.Error("muted with no firing source")
	}
}
