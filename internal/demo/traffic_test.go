package demo

import (
	"net/http"
	"testing"
	"time"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/identity"
)

// Every request of the labelled traffic is answered by its channel's kind
// as the traffic says: its items mapped, ignored on purpose or (only the
// deliberately bad ones) rejected; every person's keys are well formed and
// no key names two people.
func TestLabelledTrafficMatchesTheCatalogues(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	lt := LabelledTraffic(now)
	list, err := channel.Load(config.Shipped, "channels.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]channel.Kind{}
	for _, c := range list {
		kinds[c.ID] = c.Kind
	}
	requests, rejects, ignored, events := 0, 0, 0, 0
	for _, phase := range lt.Phases {
		for _, r := range phase {
			requests++
			k := kinds[r.Channel]
			req := channel.Request{Header: http.Header{"Content-Type": {r.ContentType}}, Body: r.Body, URL: "https://ocx.example/v1/webhooks/" + r.Channel}
			for h, v := range r.Header {
				req.Header.Set(h, v)
			}
			d, err := k.Parse(req)
			if err != nil {
				t.Fatalf("%s %s: %v", r.Channel, r.What, err)
			}
			if len(d.Rejects) != r.Quarantined || len(d.Ignored) != r.Ignored {
				t.Errorf("%s %s: %d rejected %+v, %d ignored %+v; want %d and %d\n%s", r.Channel, r.What,
					len(d.Rejects), d.Rejects, len(d.Ignored), d.Ignored, r.Quarantined, r.Ignored, r.Body)
			}
			rejects += len(d.Rejects)
			ignored += len(d.Ignored)
			events += len(d.Events)
		}
	}
	if rejects != lt.BadRows {
		t.Errorf("%d rejects, want %d", rejects, lt.BadRows)
	}
	owner := map[identity.Key]string{}
	for _, p := range lt.People {
		for _, raw := range p.Keys {
			k, err := identity.ParseKey(raw)
			if err != nil {
				t.Errorf("%s: %v", p.Name, err)
				continue
			}
			if o, dup := owner[k]; dup {
				t.Errorf("%s is both %s's and %s's", k, o, p.Name)
			}
			owner[k] = p.Name
		}
	}
	t.Logf("%d requests: %d events, %d ignored on purpose, %d bad; %d people", requests, events, ignored, rejects, len(lt.People))
}
