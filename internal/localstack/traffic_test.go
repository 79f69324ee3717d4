package localstack_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/demo"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/localstack"
)

// Three days of provider traffic as a shop's real Stripe, Shopify,
// Zendesk, Intercom, Twilio, SendGrid, Typeform and Delighted accounts
// and its in-house checkout send it, events OCX does not map included,
// sent over HTTP, signed as each provider signs: every expected failure is
// raised once and nothing else; each person is exactly one customer (the
// household sharing a phone two); the only bad rows are the deliberately
// malformed ones; the household's refused link is listed.
func TestLabelledProviderTraffic(t *testing.T) {
	began := time.Now()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	lt := demo.LabelledTraffic(now)

	dir := filepath.Join(t.TempDir(), "config")
	if err := os.CopyFS(dir, config.Shipped); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, identity.GuardrailsFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, identity.GuardrailsFile), []byte(lt.IdentityYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	st := startWith(t, t.TempDir(), "", func(c *localstack.Config) {
		c.Now, c.ConfigDir, c.RollupEvery = clock, dir, time.Hour
	})
	defer st.Stop()
	chans, err := demo.Channels(os.DirFS(dir), func(k string) string {
		if k == channel.SecretEnv("app") {
			return secret
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	var requests, events int64
	for i, phase := range lt.Phases {
		stats := demo.Sender{Base: st.URL, Channels: chans, Workers: 4, Now: clock}.Send(ctx, phase)
		if stats.Failed > 0 || stats.Redeliveries > 0 {
			t.Fatalf("phase %d: %+v", i, stats)
		}
		requests, events = requests+stats.Sent, events+stats.Events
		// Each phase is history to the next: let the journey function
		// link what it carried before the next one is evaluated.
		idle(t, st)
	}
	if err := st.Tick(ctx, "rule-timers"); err != nil {
		t.Fatal(err)
	}
	idle(t, st)
	ignored := 0
	for _, phase := range lt.Phases {
		for _, r := range phase {
			ignored += r.Ignored
		}
	}

	// Bad rows: only the deliberately bad items.
	rows := badRows(t, st)
	if len(rows) != lt.BadRows {
		for _, r := range rows {
			t.Logf("bad row %s %s: %+v", r.Channel, r.ID, r.Reasons)
		}
		t.Errorf("%d bad rows, want %d", len(rows), lt.BadRows)
	}

	// Identity: each person is one customer, and no two people share one.
	owner := map[string]string{}
	customerOf := map[string]string{}
	for _, p := range lt.People {
		for _, key := range p.Keys {
			var v customer.View
			if code := lookup(t, st, key, &v); code != 200 {
				t.Errorf("%s: %s resolves to no customer (%d)", p.Name, key, code)
				continue
			}
			switch cid, seen := customerOf[p.Name]; {
			case !seen:
				customerOf[p.Name] = v.ID
			case cid != v.ID:
				t.Errorf("%s is split: %s is customer %s, an earlier key customer %s", p.Name, key, v.ID, cid)
			}
		}
		if o, taken := owner[customerOf[p.Name]]; taken {
			t.Errorf("%s and %s are one customer %s", o, p.Name, customerOf[p.Name])
		}
		owner[customerOf[p.Name]] = p.Name
	}
	var shared customer.View
	if lookup(t, st, "phone:"+lt.SharedPhone, &shared); shared.ID == "" || owner[shared.ID] != "raj" {
		t.Errorf("the household's phone belongs to %q, want raj", owner[shared.ID])
	}
	var sup customer.View
	if code := lookup(t, st, "phone:"+demo.SupportLine, &sup); code != 404 {
		t.Errorf("the support line resolves to a customer (%d %s)", code, sup.ID)
	}

	// The refused link is listed, as the OpenAPI document describes.
	an := newAnalyst(t, st)
	var refused journey.RefusedResponse
	code, body := an.get("/v1/identity/refused", "")
	if err := json.Unmarshal(body, &refused); code != 200 || err != nil || len(refused.Refusals) != lt.Refusals {
		t.Errorf("GET /v1/identity/refused: %d %s; want %d refusals", code, body, lt.Refusals)
	} else if r := refused.Refusals[0]; len(r.Customers) == 0 || owner[r.Customers[0]] != "raj" || strings.Join(r.Kinds, ",") != "email" {
		t.Errorf("refusal %+v, want raj's customer and email", r)
	}

	// Failures: exactly the expected ones, once each.
	failures := listPages(t, an, "")
	got := map[string]map[string]int{}
	for _, f := range failures {
		who := owner[f.CustomerID]
		if who == "" {
			t.Errorf("failure %s of %s (key %s, %s) belongs to no labelled person", f.ID, f.RuleID, f.Key, f.Summary)
			continue
		}
		if got[who] == nil {
			got[who] = map[string]int{}
		}
		got[who][f.RuleID]++
	}
	expected := 0
	kinds := map[string]int{}
	for _, p := range lt.People {
		kinds[p.Kind]++
		for rule, n := range p.Expect {
			expected += n
			if got[p.Name][rule] != n {
				t.Errorf("%s (%s): %d %s failures, want %d", p.Name, p.Kind, got[p.Name][rule], rule, n)
			}
		}
		for rule, n := range got[p.Name] {
			if p.Expect[rule] == 0 {
				t.Errorf("%s (%s): %d unexpected %s failures", p.Name, p.Kind, n, rule)
			}
		}
	}
	var people []string
	for k, n := range kinds {
		people = append(people, k+" "+strconv.Itoa(n))
	}
	sort.Strings(people)
	t.Logf("%d requests (%d events, %d items ignored on purpose), %d bad rows (want %d); %d people (%s) as %d customers; "+
		"failures expected %d, raised %d; refusals %d; %s",
		requests, events, ignored, len(rows), lt.BadRows, len(lt.People), strings.Join(people, ", "), len(owner),
		expected, len(failures), len(refused.Refusals), time.Since(began).Round(time.Second))
}
