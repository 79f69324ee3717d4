package demo

import (
	"fmt"
	"testing"
	"time"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/localstack"
)

// Every request of the story verifies with its channel's demo secret and
// maps, without a quarantined item, to exactly the interactions its Facts
// say: type, time, survey score and carried attributes. Tests compute
// expected figures from the Facts, so they must be what the stack sees.
func TestStoryMapsToItsFacts(t *testing.T) {
	chans, err := Channels(config.Shipped, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	reqs := Story(1, now, 30, 300)
	seen := map[string]int{}
	for _, r := range reqs {
		ch := chans[r.Channel]
		_, verify, _ := localstack.DemoSecrets(ch.Channel)
		req, err := ch.Sign("http://127.0.0.1:8080", r, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Kind.Verify(req, []string{verify}, now); err != nil {
			t.Fatalf("%s %s does not verify: %v", r.Channel, r.What, err)
		}
		d, err := ch.Kind.Parse(req)
		if err != nil || len(d.Rejects) > 0 || len(d.Events) == 0 {
			t.Fatalf("%s %s: %v %+v\n%s", r.Channel, r.What, err, d.Rejects, r.Body)
		}
		if len(d.Events) != len(r.Facts) {
			t.Fatalf("%s %s: %d events, %d facts", r.Channel, r.What, len(d.Events), len(r.Facts))
		}
		for i, ev := range d.Events {
			f := r.Facts[i]
			if ev.Type != f.Type || !ev.OccurredAt.Equal(f.At) || f.Channel != r.Channel {
				t.Errorf("%s %s became %s at %s; the fact says %s at %s", r.Channel, r.What, ev.Type, ev.OccurredAt, f.Type, f.At)
			}
			if f.At.After(now) {
				t.Errorf("%s %s occurs in the future: %s", r.Channel, f.Type, f.At)
			}
			survey, _ := ev.Attributes["survey"].(string)
			if survey != f.Survey || f.Survey != "" && fmt.Sprint(ev.Attributes["score"]) != fmt.Sprint(f.Score) {
				t.Errorf("%s %s: survey %q score %v; the fact says %q %d", r.Channel, f.Type, survey, ev.Attributes["score"], f.Survey, f.Score)
			}
			for _, a := range []string{"plan", "region"} {
				if got := fmt.Sprint(ev.Attributes[a]); f.Attrs[a] != "" && got != f.Attrs[a] || f.Attrs[a] == "" && ev.Attributes[a] != nil {
					t.Errorf("%s %s: %s %v; the fact says %q", r.Channel, f.Type, a, ev.Attributes[a], f.Attrs[a])
				}
			}
			seen[r.Channel+" "+ev.Type]++
		}
	}
	// The story reaches every channel and the events every shipped rule
	// and journey watches.
	for _, want := range []string{
		"app account.created", "app account.verified", "app account.activated", "app order.delivered", "app survey.responded",
		"shopify order.created", "shopify order.fulfilled", "shopify order.cancelled",
		"stripe payment.failed", "stripe payment.succeeded",
		"zendesk ticket.created", "zendesk ticket.replied", "zendesk ticket.solved",
		"intercom conversation.opened", "intercom conversation.closed", "intercom survey.responded",
		"twilio message.received", "twilio message.undelivered", "twilio call.completed",
		"sendgrid email.sent", "sendgrid email.delivered", "sendgrid email.bounced",
		"typeform survey.responded", "delighted survey.responded",
	} {
		if seen[want] == 0 {
			t.Errorf("no %s in the story", want)
		}
	}
	if t.Failed() {
		t.Logf("seen: %v", seen)
	}
}

// The same seed tells the same story.
func TestStoryIsReproducible(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a, b := Story(7, now, 30, 100), Story(7, now, 30, 100)
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%d and %d requests", len(a), len(b))
	}
	for i := range a {
		if string(a[i].Body) != string(b[i].Body) || !a[i].At.Equal(b[i].At) {
			t.Fatalf("request %d differs", i)
		}
	}
	if c := Story(8, now, 30, 100); len(c) == len(a) && string(c[0].Body) == string(a[0].Body) {
		t.Error("another seed told the same story")
	}
}
