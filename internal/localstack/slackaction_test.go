package localstack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocxhq/ocx/events"
	"github.com/ocxhq/ocx/internal/failure"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/slackaction"
	"github.com/ocxhq/ocx/internal/topology"
)

const slackSigning = "test-slack-signing-secret"

// responseURL stands in for a Slack interaction's response_url.
type responseURL struct {
	mu    sync.Mutex
	posts []map[string]any
}

func (s *responseURL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &m) != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.posts = append(s.posts, m)
	s.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

func (s *responseURL) all() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.posts...)
}

// button finds the element with action id in a message's actions blocks,
// with the id of its block.
func button(msg map[string]any, action string) (value, blockID string, ok bool) {
	blocks, _ := msg["blocks"].([]any)
	for _, b := range blocks {
		b, _ := b.(map[string]any)
		if b["type"] != "actions" {
			continue
		}
		els, _ := b["elements"].([]any)
		for _, e := range els {
			e, _ := e.(map[string]any)
			if e["action_id"] == action {
				v, _ := e["value"].(string)
				id, _ := b["block_id"].(string)
				return v, id, true
			}
		}
	}
	return "", "", false
}

// press posts a block_actions payload as Slack does: form-encoded, signed
// with secret at ts.
func press(t *testing.T, st *localstack.Stack, action, blockID, value, respondTo string, msg map[string]any, secret string, ts time.Time, tamper bool) int {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": "U0ONCALL", "username": "ann.ops", "name": "Ann Ops", "team_id": "T0OCX"},
		"team":         map[string]any{"id": "T0OCX", "domain": "ocx-example"},
		"container":    map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0ALERTS"},
		"trigger_id":   "1.2.3",
		"response_url": respondTo,
		"message":      map[string]any{"type": "message", "text": msg["text"], "ts": "1700000000.000100", "blocks": msg["blocks"]},
		"actions": []any{map[string]any{"action_id": action, "block_id": blockID, "value": value, "type": "button",
			"action_ts": strconv.FormatInt(ts.Unix(), 10) + ".000001"}},
	})
	body := url.Values{"payload": {string(payload)}}.Encode()
	sig := slackaction.Sign(secret, ts.Unix(), []byte(body))
	if tamper {
		body = strings.Replace(body, "U0ONCALL", "U0MALLORY", 1)
	}
	req, _ := http.NewRequest("POST", st.URL+"/v1/slack/actions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(slackaction.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(slackaction.HeaderSignature, sig)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	t.Logf("%s press answered %d in %s %s", action, resp.StatusCode, time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(answer)))
	return resp.StatusCode
}

// statusLine is the text of the block saying who acknowledged or resolved.
func statusLine(msg map[string]any) string {
	blocks, _ := msg["blocks"].([]any)
	for _, b := range blocks {
		if b, _ := b.(map[string]any); b["block_id"] == slackaction.StatusBlockID {
			els, _ := b["elements"].([]any)
			if len(els) == 1 {
				e, _ := els[0].(map[string]any)
				text, _ := e["text"].(string)
				return text
			}
		}
	}
	return ""
}

// detractors are the shipped nps.detractor failures, by customer.
func detractors(t *testing.T, st *localstack.Stack) []events.Failure {
	var out []events.Failure
	for _, f := range failures(t, st) {
		if f.RuleID == "nps.detractor" {
			out = append(out, f)
		}
	}
	return out
}

// allIn reports whether the three detractor failures are in state, the
// last step made by by.
func allIn(fs []events.Failure, state, by string) bool {
	for _, f := range fs {
		last := f.History[len(f.History)-1]
		if f.State != state || last.State != state || last.By != by {
			return false
		}
	}
	return len(fs) == 3
}

// A burst of detractor answers arrives in Slack as one grouped message; a
// signed Acknowledge press on it acknowledges every failure of the group in
// the presser's name and rewrites the message, a tampered one changes
// nothing, and Resolve on the rewritten message resolves them all.
func TestSlackAcknowledgeAndResolveGroup(t *testing.T) {
	sink := &slackSink{}
	slackSrv := httptest.NewServer(sink)
	defer slackSrv.Close()
	respond := &responseURL{}
	respSrv := httptest.NewServer(respond)
	defer respSrv.Close()
	var offset atomic.Int64
	now := func() time.Time { return testNow().Add(time.Duration(offset.Load())) }
	st := startWith(t, t.TempDir(), slackSrv.URL, func(c *localstack.Config) {
		c.Now = now
		c.SlackSigningSecret = slackSigning
	})
	defer st.Stop()

	answered := testNow().UTC().Add(-time.Minute).Format(time.RFC3339)
	for _, who := range []string{"ann", "bob", "cat"} {
		body := fmt.Sprintf(`{"type":"survey.responded","customer":{"email":"%s@example.com"},"occurred_at":%q,"attributes":{"survey":"nps","score":3}}`, who, answered)
		if code := send(t, st, "msg_nps_"+who, body, false).StatusCode; code != 202 {
			t.Fatalf("%s's answer: %d", who, code)
		}
	}
	eventually(t, "three detractor failures", 30*time.Second, func() bool { return len(detractors(t, st)) == 3 })

	// Past the route's group_wait, the notification schedules send the group.
	offset.Store(int64(2 * time.Minute))
	var alert map[string]any
	eventually(t, "a grouped Slack message with an Acknowledge button", 30*time.Second, func() bool {
		for _, s := range topology.Schedules {
			if s.Target == topology.Notify {
				if err := st.Tick(context.Background(), s.Name); err != nil {
					t.Logf("tick %s: %v", s.Name, err)
				}
			}
		}
		sink.mu.Lock()
		defer sink.mu.Unlock()
		for _, p := range sink.posts {
			if _, _, ok := button(p, slackaction.ActionAcknowledge); ok {
				alert = p
				return true
			}
		}
		return false
	})
	group, blockID, _ := button(alert, slackaction.ActionAcknowledge)
	if v, _, ok := button(alert, slackaction.ActionResolve); !ok || v != group {
		t.Fatalf("Resolve button value %q, want the group key %q", v, group)
	}

	// A press whose body was changed after signing is refused.
	if code := press(t, st, "ack", blockID, group, respSrv.URL+"/r/1", alert, slackSigning, now(), true); code != 401 {
		t.Fatalf("tampered press: %d, want 401", code)
	}
	// So is one signed with another secret, or signed too long ago.
	if code := press(t, st, "ack", blockID, group, respSrv.URL+"/r/1", alert, "not-the-secret", now(), false); code != 401 {
		t.Fatalf("press signed with another secret: %d, want 401", code)
	}
	if code := press(t, st, "ack", blockID, group, respSrv.URL+"/r/1", alert, slackSigning, now().Add(-6*time.Minute), false); code != 401 {
		t.Fatalf("stale press: %d, want 401", code)
	}
	for _, f := range detractors(t, st) {
		if f.State != failure.Open || len(f.History) != 1 {
			t.Fatalf("refused presses changed %s: %s %+v", f.ID, f.State, f.History)
		}
	}
	if n := len(respond.all()); n != 0 {
		t.Fatalf("refused presses updated the message %d times", n)
	}

	if code := press(t, st, "ack", blockID, group, respSrv.URL+"/r/2", alert, slackSigning, now(), false); code != 200 {
		t.Fatalf("acknowledge: %d", code)
	}
	if fs := detractors(t, st); !allIn(fs, failure.Acknowledged, "slack:U0ONCALL") {
		t.Fatalf("after Acknowledge: %+v", fs)
	}
	updates := respond.all()
	if len(updates) != 1 || updates[0]["replace_original"] != true {
		t.Fatalf("message updates: %v", updates)
	}
	acked := updates[0]
	if _, _, ok := button(acked, slackaction.ActionAcknowledge); ok {
		t.Error("the acknowledged message still offers Acknowledge")
	}
	if got := statusLine(acked); !strings.HasPrefix(got, ":eyes: Acknowledged by <@U0ONCALL> at <!date^") || !strings.HasSuffix(got, "(3 failures)") {
		t.Errorf("status line after Acknowledge: %q", got)
	}

	// Resolve, from the button left on the rewritten message.
	rgroup, rblock, ok := button(acked, slackaction.ActionResolve)
	if !ok || rgroup != group {
		t.Fatalf("the acknowledged message has no Resolve button for %s", group)
	}
	offset.Store(int64(10 * time.Minute))
	if code := press(t, st, "resolve", rblock, rgroup, respSrv.URL+"/r/3", acked, slackSigning, now(), false); code != 200 {
		t.Fatalf("resolve: %d", code)
	}
	if fs := detractors(t, st); !allIn(fs, failure.Resolved, "slack:U0ONCALL") {
		t.Fatalf("after Resolve: %+v", fs)
	}
	if updates = respond.all(); len(updates) != 2 {
		t.Fatalf("%d message updates, want 2", len(updates))
	}
	if _, _, ok := button(updates[1], slackaction.ActionResolve); ok {
		t.Error("the resolved message still offers Resolve")
	}
	if got := statusLine(updates[1]); !strings.HasPrefix(got, ":white_check_mark: Resolved by <@U0ONCALL> at <!date^") {
		t.Errorf("status line after Resolve: %q", got)
	}
	// A late press on the original message's Acknowledge changes nothing.
	if code := press(t, st, "ack", blockID, group, respSrv.URL+"/r/4", alert, slackSigning, now(), false); code != 200 {
		t.Fatalf("late acknowledge: %d", code)
	}
	for _, f := range detractors(t, st) {
		if f.State != failure.Resolved || len(f.History) != 3 {
			t.Errorf("a late Acknowledge changed %s: %s %+v", f.ID, f.State, f.History)
		}
	}
	if updates = respond.all(); len(updates) != 3 || !strings.HasPrefix(statusLine(updates[2]), ":white_check_mark: Resolved by <@U0ONCALL>") {
		t.Errorf("message after a late Acknowledge: %q", statusLine(updates[len(updates)-1]))
	}
	if len(sink.bad) != 0 {
		t.Errorf("Slack posts that are not incoming-webhook payloads: %v", sink.bad)
	}
}
