package localstack_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/ingest"
	"github.com/ocxhq/ocx/internal/localstack"
)

// delivery is one provider request: a documented example payload from the
// kind's testdata and the headers the provider sends besides its signature.
type delivery struct {
	channel string
	fixture string // path under internal/channel
	header  map[string]string
}

var deliveries = []delivery{
	{channel: "app", fixture: "../../events/samples/webhook.standard.json"},
	{channel: "checkout", fixture: "../../events/samples/webhook.standard.json"},
	{channel: "stripe", fixture: "stripe/testdata/payment_intent.payment_failed.json"},
	{channel: "shopify", fixture: "shopify/testdata/orders-create.json", header: map[string]string{"X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", "X-Shopify-Shop-Domain": "example.myshopify.com"}},
	{channel: "zendesk", fixture: "zendesk/testdata/ticket.created.json", header: map[string]string{"X-Zendesk-Webhook-Invocation-Id": "inv-8f7e6d"}},
	{channel: "intercom", fixture: "intercom/testdata/conversation.user.created.json"},
	{channel: "twilio", fixture: "twilio/testdata/inbound_sms.form"},
	{channel: "sendgrid", fixture: "sendgrid/testdata/events.json"},
	{channel: "typeform", fixture: "typeform/testdata/nps_response.json"},
	{channel: "delighted", fixture: "delighted/testdata/survey_response_created.json"},
}

// post signs body the way the channel's provider does (tampering after
// signing when asked) and posts it to the local stack.
func post(t *testing.T, st *localstack.Stack, ch channel.Channel, d delivery, body []byte, tamper bool) (int, ingest.Accepted) {
	t.Helper()
	ct := "application/json"
	if strings.HasSuffix(d.fixture, ".form") {
		ct = "application/x-www-form-urlencoded"
	}
	req := channel.Request{Header: http.Header{"Content-Type": {ct}}, Body: body, URL: st.URL + "/v1/webhooks/" + ch.ID}
	for k, v := range d.header {
		req.Header.Set(k, v)
	}
	if ch.Config.Kind == "standardwebhooks" {
		req.Header.Set("webhook-id", "msg_"+ch.ID+"_1")
	}
	if err := ch.Kind.(channel.Signer).Sign(&req, st.ChannelSecrets[ch.ID].Sign, testNow()); err != nil {
		t.Fatal(err)
	}
	if tamper {
		body = append(append([]byte{}, body...), ' ')
	}
	hr, _ := http.NewRequest("POST", req.URL, strings.NewReader(string(body)))
	hr.Header = req.Header
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var acc ingest.Accepted
	_ = json.Unmarshal(raw, &acc)
	if resp.StatusCode >= 300 && !tamper {
		t.Logf("%s answered %d: %s", ch.ID, resp.StatusCode, raw)
	}
	return resp.StatusCode, acc
}

// Every channel accepts its provider's correctly signed request and refuses
// the same request tampered; a delivery redelivered three times yields its
// events once. Each request reaches the ingest function as API Gateway
// hands it to Lambda: Stripe-Signature (t=…,v1=…) and webhook-signature
// (v1,…) keep their commas, Twilio's form body arrives base64-encoded.
func TestEveryChannelOverHTTP(t *testing.T) {
	chans, err := channel.Load(config.Shipped, "channels.yaml")
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]channel.Channel{}
	for _, c := range chans {
		byID[c.ID] = c
	}
	covered := map[string]bool{}
	st := startWith(t, t.TempDir(), "", func(c *localstack.Config) {
		c.Secrets = nil // every channel on its demo secrets
		c.RollupEvery = time.Hour
	})
	defer st.Stop()
	for _, d := range deliveries {
		t.Run(d.channel, func(t *testing.T) {
			ch, ok := byID[d.channel]
			if !ok {
				t.Fatalf("channel %s is not in channels.yaml", d.channel)
			}
			covered[d.channel] = true
			body, err := os.ReadFile(filepath.Join("..", "channel", d.fixture))
			if err != nil {
				t.Fatal(err)
			}
			if code, _ := post(t, st, ch, d, body, true); code != http.StatusUnauthorized {
				t.Fatalf("tampered: %d, want 401", code)
			}
			idle(t, st)
			st.Meter().Reset()
			code, first := post(t, st, ch, d, body, false)
			if code != http.StatusAccepted || len(first.EventIDs) == 0 {
				t.Fatalf("signed: %d %+v, want 202 with events", code, first)
			}
			for range 3 {
				code, again := post(t, st, ch, d, body, false)
				if code != http.StatusOK || !again.Duplicate || strings.Join(again.EventIDs, ",") != strings.Join(first.EventIDs, ",") {
					t.Fatalf("redelivery: %d %+v, want 200 duplicate with the same ids", code, again)
				}
			}
			idle(t, st)
			if put := st.Meter().Snapshot()["eventbridge events put"]; put < len(first.EventIDs) {
				t.Fatalf("%d events put for %d accepted", put, len(first.EventIDs))
			}
			if n, objects := st.Meter().Snapshot()["firehose records"], st.Meter().Snapshot()["s3 PutObject"]; n != 1 || objects != 0 {
				t.Fatalf("%d raw records and %d objects archived for one delivery sent four times, want 1 record", n, objects)
			}
		})
	}
	for _, c := range chans {
		if !covered[c.ID] {
			t.Errorf("channel %s has no delivery in this test", c.ID)
		}
	}
}

// A verified payload that does not map is quarantined (2xx), listed, and
// after a mapping change replayed onto the bus.
func TestQuarantineReplayAfterMappingChange(t *testing.T) {
	// A Typeform form whose score question's ref the channel does not map.
	cfgDir := t.TempDir()
	writeConfig(t, cfgDir, "nps_ref: other")
	state := t.TempDir()
	st := startWith(t, state, "", func(c *localstack.Config) {
		c.Secrets = nil
		c.ConfigDir = cfgDir
		c.RollupEvery = time.Hour
	})
	chans, err := channel.Load(os.DirFS(cfgDir), "channels.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tf channel.Channel
	for _, c := range chans {
		if c.ID == "typeform" {
			tf = c
		}
	}
	body, _ := os.ReadFile("../channel/typeform/testdata/nps_response.json")
	d := delivery{channel: "typeform", fixture: "typeform/testdata/nps_response.json"}
	code, acc := post(t, st, tf, d, body, false)
	if code != http.StatusAccepted || acc.Quarantined == 0 || len(acc.EventIDs) != 0 {
		t.Fatalf("unmapped response: %d %+v, want 202 with everything quarantined", code, acc)
	}
	rows := badRows(t, st)
	if len(rows) != 1 || !strings.Contains(rows[0].Reasons[0].Reason, "nps_ref") && !strings.Contains(rows[0].Reasons[0].Reason, "question") {
		t.Fatalf("bad rows %+v", rows)
	}
	st.Stop()

	// The mapping is fixed; the stack restarts with it and the row replays.
	writeConfig(t, cfgDir, "nps_ref: nps")
	st = startWith(t, state, "", func(c *localstack.Config) {
		c.Secrets = nil
		c.ConfigDir = cfgDir
		c.RollupEvery = time.Hour
	})
	defer st.Stop()
	st.Meter().Reset()
	req, _ := http.NewRequest("POST", st.URL+"/v1/badrows/"+rows[0].ID+"/replay", nil)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var res ingest.ReplayResult
	_ = json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(res.Published) == 0 || res.Row.State != ingest.StateReplayed {
		t.Fatalf("replay: %d %+v", resp.StatusCode, res)
	}
	idle(t, st)
	if put := st.Meter().Snapshot()["eventbridge events put"]; put < len(res.Published) {
		t.Fatalf("replay put %d events, want %d", put, len(res.Published))
	}
	if left := badRows(t, st); len(left) != 0 {
		t.Fatalf("%d rows still quarantined after replay", len(left))
	}
}

func badRows(t *testing.T, st *localstack.Stack) []ingest.BadRow {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), "GET", st.URL+"/v1/badrows", nil)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page ingest.BadRowsPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("list bad rows: %d %v", resp.StatusCode, err)
	}
	return page.BadRows
}

// writeConfig copies the shipped configuration to dir with the Typeform
// channel's options replaced.
func writeConfig(t *testing.T, dir, typeformOptions string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, config.Shipped); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "channels.yaml"))
	s := string(b)
	i := strings.Index(s, "kind: typeform")
	j := strings.Index(s[i:], "  - id:")
	block := "kind: typeform\n    options:\n      " + typeformOptions + "\n"
	if j < 0 {
		s = s[:i] + block
	} else {
		s = s[:i] + block + s[i+j:]
	}
	if err := os.Chmod(filepath.Join(dir, "channels.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "channels.yaml"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
