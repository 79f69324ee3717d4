package localstack_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/channel/shopify"
	"github.com/ocxhq/ocx/internal/channel/twilio"
	"github.com/ocxhq/ocx/internal/channel/zendesk"
	"github.com/ocxhq/ocx/internal/customer"
	"github.com/ocxhq/ocx/internal/localstack"
)

const (
	zendeskSecret    = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
	zendeskRequester = "8447388090495" // requester_id in the Zendesk fixtures
	shopifySecret    = "shpss_test_client_secret"
	twilioToken      = "twilio-test-auth-token"
	annEmail         = "ann@example.com"
	annPhone         = "+14017122661"
)

// One customer across channels, over HTTP the way channels and an operator
// use it: a Zendesk ticket from a requester Zendesk knows by email and an
// SMS from a phone are two customers until a Shopify order carrying both
// joins them; the merged customer shows every channel and the order and
// support journeys in their stages; undoing the merge splits them back.
//
// Zendesk's ticket events name the requester by id only. The same webhook,
// subscribed to the requester's user.created event, links that id to the
// email, so the ticket joins the customer of that address.
func TestOneCustomerAcrossChannelsAndUnmerge(t *testing.T) {
	st := startWith(t, t.TempDir(), "", func(c *localstack.Config) {
		c.Secrets["shopify"] = shopifySecret
		c.Secrets["twilio"] = twilioToken
		c.Secrets["zendesk"] = zendeskSecret
	})
	defer st.Stop()
	now := testNow().UTC().Truncate(time.Second)

	// Zendesk creates the requester ann@example.com...
	if code := sendZendesk(t, st, "user.created.json", now.Add(-51*time.Minute), "Ann@Example.com", testNow()); code != 202 {
		t.Fatalf("zendesk user webhook: %d", code)
	}
	var ticketSide customer.View
	eventually(t, "the zendesk user linked to the email", 15*time.Second, func() bool {
		return lookup(t, st, "zendesk:"+zendeskRequester, &ticketSide) == 200 && keysOf(ticketSide) == "email:ann@example.com,zendesk:"+zendeskRequester
	})
	// ...whose ticket, naming only requester_id, gets an agent's public answer.
	for _, d := range []struct {
		fixture string
		at      time.Duration
	}{{"ticket.created.json", -50 * time.Minute}, {"ticket.comment_added.json", -40 * time.Minute}} {
		if code := sendZendesk(t, st, d.fixture, now.Add(d.at), "", testNow()); code != 202 {
			t.Fatalf("zendesk %s: %d", d.fixture, code)
		}
	}
	// An SMS from the phone.
	if code := sendTwilioSMS(t, st, annPhone, "Where is my order?"); code != 202 {
		t.Fatalf("twilio webhook: %d", code)
	}
	var smsSide customer.View
	eventually(t, "two customers before the order", 15*time.Second, func() bool {
		return lookup(t, st, "email:"+annEmail, &ticketSide) == 200 && lookup(t, st, "phone:"+annPhone, &smsSide) == 200 &&
			len(ticketSide.Interactions) == 3 && len(smsSide.Interactions) == 1
	})
	if ticketSide.ID == smsSide.ID {
		t.Fatal("the email and the phone were one customer before anything linked them")
	}
	if got := channelsOf(ticketSide); got != "zendesk,zendesk,zendesk" {
		t.Errorf("the email's customer has interactions from %s, want the zendesk user and ticket", got)
	}
	if got := journeysOf(ticketSide); got != "support-case=responded" {
		t.Errorf("the email's customer's journeys %s, want the ticket's", got)
	}

	// The Shopify order carries both.
	if code := sendShopifyOrder(t, st, now.Add(-30*time.Minute)); code != 202 {
		t.Fatalf("shopify webhook: %d", code)
	}
	var merged customer.View
	// The view is read while the journey function works, so wait for all
	// of the order's effects.
	eventually(t, "one customer after the order", 15*time.Second, func() bool {
		// email, phone, the Zendesk and Shopify ids, and the order the
		// customer owns.
		return lookup(t, st, "phone:"+annPhone, &merged) == 200 && merged.ID == ticketSide.ID && len(merged.Interactions) == 5 &&
			len(merged.Journeys) == 2 && len(merged.Identities) == 5
	})
	if got, want := channelsOf(merged), "shopify,twilio,zendesk,zendesk,zendesk"; got != want {
		t.Errorf("merged interactions from %s, want %s", got, want)
	}
	if got, want := journeysOf(merged), "order-to-delivery=placed,support-case=responded"; got != want {
		t.Errorf("merged journeys %s, want %s", got, want)
	}
	for _, j := range merged.Journeys {
		if j.SLADueAt == nil || j.SLABreached {
			t.Errorf("journey %s/%s: sla_due_at %v, breached %v; want a due time still ahead", j.Journey, j.Instance, j.SLADueAt, j.SLABreached)
		}
	}
	if len(merged.Merges) != 1 || merged.Merges[0].Absorbed != smsSide.ID || merged.Merges[0].State != customer.MergeMerged {
		t.Fatalf("merge history %+v, want %s absorbed", merged.Merges, smsSide.ID)
	}
	if got := keysOf(merged); got != "email:ann@example.com,phone:+14017122661,shopify.order:820982911946154508,shopify:115310627314723954,zendesk:"+zendeskRequester {
		t.Errorf("merged identities %s", got)
	}

	// Undo it.
	var res customer.UnmergeResponse
	if code := call(t, st, "POST", "/v1/customers/"+smsSide.ID+"/unmerge", &res); code != 200 {
		t.Fatalf("unmerge: %d", code)
	}
	var a, b customer.View
	if lookup(t, st, "email:"+annEmail, &a) != 200 || lookup(t, st, "phone:"+annPhone, &b) != 200 {
		t.Fatal("customers not readable after unmerge")
	}
	if a.ID != ticketSide.ID || b.ID != smsSide.ID {
		t.Fatalf("after unmerge the email is %s and the phone %s, want %s and %s", a.ID, b.ID, ticketSide.ID, smsSide.ID)
	}
	if got := channelsOf(b); got != "twilio" || journeysOf(b) != "" {
		t.Errorf("the SMS side has %s and journeys %q, want its SMS alone", got, journeysOf(b))
	}
	// The order joined the two, so the survivor keeps it as evidence.
	if got := channelsOf(a); got != "shopify,zendesk,zendesk,zendesk" {
		t.Errorf("the ticket side has %s, want its tickets and the order", got)
	}
	if got := journeysOf(a); got != "order-to-delivery=placed,support-case=responded" {
		t.Errorf("the ticket side's journeys %s", got)
	}
	if len(a.Merges) != 1 || a.Merges[0].State != customer.MergeUnmerged {
		t.Errorf("merge record after unmerge: %+v", a.Merges)
	}
}

// sendZendesk posts a Zendesk event fixture, restamped at occurred and with
// the user's email replaced when email is set, signed at signedAt the way
// Zendesk signs it.
func sendZendesk(t *testing.T, st *localstack.Stack, fixture string, occurred time.Time, email string, signedAt time.Time) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "channel", "zendesk", "testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	ev["time"] = occurred.Format(time.RFC3339Nano)
	if email != "" {
		ev["detail"].(map[string]any)["email"] = email
	}
	body, _ := json.Marshal(ev)
	req, _ := http.NewRequest("POST", st.URL+"/v1/webhooks/zendesk", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(zendesk.HeaderWebhookID, "01F1KRFQ6BG29CNWFR60NK5FNY")
	req.Header.Set(zendesk.HeaderInvocationID, fmt.Sprintf("inv-%s-%d", fixture, occurred.UnixNano()))
	ts := signedAt.UTC().Format(time.RFC3339)
	req.Header.Set(zendesk.HeaderTimestamp, ts)
	req.Header.Set(zendesk.HeaderSignature, zendesk.Sign(zendeskSecret, ts, body))
	return do(t, req)
}

func sendShopifyOrder(t *testing.T, st *localstack.Stack, at time.Time) int {
	t.Helper()
	body := fmt.Sprintf(`{"id":820982911946154508,"name":"#1001","order_number":1001,"email":%q,"phone":%q,`+
		`"created_at":%q,"total_price":"42.00","currency":"EUR","financial_status":"paid",`+
		`"customer":{"id":115310627314723954,"email":%q,"phone":%q}}`,
		annEmail, annPhone, at.Format(time.RFC3339), annEmail, annPhone)
	req, _ := http.NewRequest("POST", st.URL+"/v1/webhooks/shopify", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(shopify.HeaderTopic, "orders/create")
	req.Header.Set(shopify.HeaderWebhookID, "e2e-order-1001")
	req.Header.Set(shopify.HeaderShopDomain, "example.myshopify.com")
	req.Header.Set(shopify.HeaderHMAC, shopify.Sign(shopifySecret, []byte(body)))
	return do(t, req)
}

func sendTwilioSMS(t *testing.T, st *localstack.Stack, from, text string) int {
	t.Helper()
	u := st.URL + "/v1/webhooks/twilio"
	form := url.Values{
		"MessageSid": {"SMe2e0000000000000000000000000001"}, "SmsSid": {"SMe2e0000000000000000000000000001"},
		"SmsStatus": {"received"}, "AccountSid": {"ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"},
		"From": {from}, "To": {"+15558675310"}, "Body": {text}, "NumMedia": {"0"}, "NumSegments": {"1"}, "ApiVersion": {"2010-04-01"},
	}
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.HeaderSignature, twilio.Sign(twilioToken, u, form))
	return do(t, req)
}

func do(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		t.Logf("%s answered %d: %s", req.URL.Path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// call sends an operator request with the stack's token.
func call(t *testing.T, st *localstack.Stack, method, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, st.URL+path, nil)
	req.Header.Set("Authorization", "Bearer test-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func lookup(t *testing.T, st *localstack.Stack, key string, v *customer.View) int {
	t.Helper()
	*v = customer.View{}
	return call(t, st, "GET", "/v1/customers?"+url.Values{"key": {key}}.Encode(), v)
}

func channelsOf(v customer.View) string {
	var out []string
	for _, i := range v.Interactions {
		out = append(out, i.Channel)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func journeysOf(v customer.View) string {
	var out []string
	for _, j := range v.Journeys {
		out = append(out, j.Journey+"="+j.Stage)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func keysOf(v customer.View) string {
	var out []string
	for _, i := range v.Identities {
		out = append(out, string(i.Key))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
