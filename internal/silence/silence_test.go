package silence

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/labels"
)

func TestNewAndMutes(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, err := New(Request{Matchers: []string{"rule=email.bounced", `channel=~"send.*"`}, Duration: "2h", CreatedBy: "ann", Comment: "provider incident"}, now)
	if err != nil {
		t.Fatal(err)
	}
	bounce := labels.Set{"rule": "email.bounced", "channel": "sendgrid"}
	if !s.Mutes(bounce, now) || !s.Mutes(bounce, now.Add(119*time.Minute)) {
		t.Error("does not mute a matching failure while active")
	}
	if s.Mutes(bounce, now.Add(2*time.Hour)) || s.Mutes(labels.Set{"rule": "email.bounced", "channel": "ses"}, now) {
		t.Error("mutes after its end or a failure it does not match")
	}
	b, _ := json.Marshal(s)
	var back Silence
	if err := json.Unmarshal(b, &back); err != nil || len(back.Matchers) != 2 || back.ID != s.ID || !back.EndsAt.Equal(s.EndsAt) {
		t.Fatalf("round trip %s: %+v %v", b, back, err)
	}
	if !strings.Contains(string(b), `"matchers":["rule=\"email.bounced\"","channel=~\"send.*\""]`) {
		t.Errorf("JSON %s", b)
	}
}

func TestNewRefuses(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ok := Request{Matchers: []string{"team=digital"}, Duration: "1h", CreatedBy: "ann", Comment: "why"}
	tests := map[string]func(r *Request){
		"no matchers":       func(r *Request) { r.Matchers = nil },
		"bad matcher":       func(r *Request) { r.Matchers = []string{"team"} },
		"no author":         func(r *Request) { r.CreatedBy = " " },
		"no comment":        func(r *Request) { r.Comment = "" },
		"no end":            func(r *Request) { r.Duration = "" },
		"both ends":         func(r *Request) { r.EndsAt = now.Add(time.Hour) },
		"negative":          func(r *Request) { r.Duration = "-1h" },
		"too long":          func(r *Request) { r.Duration = "2400h" },
		"ended in the past": func(r *Request) { r.Duration = ""; r.EndsAt = now.Add(-time.Minute); r.StartsAt = now.Add(-time.Hour) },
	}
	for name, change := range tests {
		r := ok
		change(&r)
		if _, err := New(r, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	if _, err := New(ok, now); err != nil {
		t.Fatal(err)
	}
}
