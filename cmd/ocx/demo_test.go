package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/localstack"
)

// Every request of the demo story verifies with its channel's demo
// secret and maps, without a quarantined item, to the events it means.
func TestDemoStoryMaps(t *testing.T) {
	chans, err := demoChannels()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	reqs := newStory(1, now, 30).tell(300)
	seen := map[string]int{}
	for _, r := range reqs {
		ch := chans[r.channel]
		_, verify, _ := localstack.DemoSecrets(ch.Channel)
		req := channel.Request{Header: http.Header{"Content-Type": {r.contentType}}, Body: r.body, URL: "http://127.0.0.1:8080/v1/webhooks/" + ch.ID}
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		if err := ch.Kind.(channel.Signer).Sign(&req, ch.secret, now); err != nil {
			t.Fatal(err)
		}
		if err := ch.Kind.Verify(req, []string{verify}, now); err != nil {
			t.Fatalf("%s %s does not verify: %v", r.channel, r.what, err)
		}
		d, err := ch.Kind.Parse(req)
		if err != nil || len(d.Rejects) > 0 || len(d.Events) == 0 {
			t.Fatalf("%s %s: %v %+v\n%s", r.channel, r.what, err, d.Rejects, r.body)
		}
		for _, ev := range d.Events {
			if r.what != "email.*" && ev.Type != r.what {
				t.Errorf("%s %s became %s", r.channel, r.what, ev.Type)
			}
			if ev.OccurredAt.After(now.Add(time.Minute)) {
				t.Errorf("%s %s occurs in the future: %s", r.channel, ev.Type, ev.OccurredAt)
			}
			seen[r.channel+" "+ev.Type]++
		}
	}
	// The story reaches every channel and the events every shipped rule
	// and journey watches.
	for _, want := range []string{
		"app account.created", "app account.verified", "app account.activated", "app order.delivered",
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
