package slackaction

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/failure"
)

func TestRewrite(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	acked := Outcome{State: failure.Acknowledged, By: "slack:U1", At: at, Failures: 1}
	resolved := Outcome{State: failure.Resolved, By: "ops@example.com <x>", At: at, Failures: 2}
	raw := func(bs ...string) *Message {
		m := &Message{Text: "fallback"}
		for _, b := range bs {
			m.Blocks = append(m.Blocks, json.RawMessage(b))
		}
		return m
	}
	const (
		header  = `{"type":"header","block_id":"h","text":{"type":"plain_text","text":"H"}}`
		ackOnly = `{"type":"actions","block_id":"a","elements":[{"type":"button","action_id":"ack","value":"g"}]}`
		both    = `{"type":"actions","block_id":"a","elements":[{"type":"button","action_id":"ack","value":"g"},{"type":"button","action_id":"resolve","value":"g","text":{"type":"plain_text","text":"Done"}}]}`
		oldStat = `{"type":"context","block_id":"ocx_status","elements":[{"type":"mrkdwn","text":"old"}]}`
		links   = `{"type":"actions","block_id":"links","elements":[{"type":"button","action_id":"runbook","url":"https://x"}]}`
	)
	for _, c := range []struct {
		name   string
		msg    *Message
		o      Outcome
		block  string
		blocks string // JSON of the blocks, or "" for none
		text   string
	}{
		{"ack keeps the original Resolve button", raw(header, both), acked, "a",
			`[` + header + `,{"type":"actions","block_id":"a","elements":[{"type":"button","action_id":"resolve","value":"g","text":{"type":"plain_text","text":"Done"}}]},` +
				`{"block_id":"ocx_status","elements":[{"text":":eyes: Acknowledged by \u003c@U1\u003e at \u003c!date^1772443800^{date_short_pretty} {time}|2026-03-02T09:30:00Z\u003e (1 failure)","type":"mrkdwn"}],"type":"context"}]`, "fallback"},
		{"ack adds a Resolve button when there was none", raw(ackOnly), acked, "a",
			`[{"type":"actions","block_id":"a","elements":[{"action_id":"resolve","style":"primary","text":{"text":"Resolve","type":"plain_text"},"type":"button","value":"g"}]},` +
				`{"block_id":"ocx_status","elements":[{"text":":eyes: Acknowledged by \u003c@U1\u003e at \u003c!date^1772443800^{date_short_pretty} {time}|2026-03-02T09:30:00Z\u003e (1 failure)","type":"mrkdwn"}],"type":"context"}]`, "fallback"},
		{"resolve drops an emptied actions block, replaces the old status, leaves other actions", raw(links, both, oldStat), resolved, "",
			`[` + links + `,{"block_id":"ocx_status","elements":[{"text":":white_check_mark: Resolved by ops@example.com &lt;x&gt; at \u003c!date^1772443800^{date_short_pretty} {time}|2026-03-02T09:30:00Z\u003e (2 failures)","type":"mrkdwn"}],"type":"context"}]`, "fallback"},
		{"no buttons found: status appended", raw(header), acked, "a",
			`[` + header + `,{"block_id":"ocx_status","elements":[{"text":":eyes: Acknowledged by \u003c@U1\u003e at \u003c!date^1772443800^{date_short_pretty} {time}|2026-03-02T09:30:00Z\u003e (1 failure)","type":"mrkdwn"}],"type":"context"}]`, "fallback"},
		{"no message in the payload", nil, resolved, "", "", "Resolved by ops@example.com &lt;x&gt; at 2026-03-02T09:30:00Z (2 failures)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := Rewrite(c.msg, c.o, c.block, "g")
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				ReplaceOriginal bool            `json:"replace_original"`
				Text            string          `json:"text"`
				Blocks          json.RawMessage `json:"blocks"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if !got.ReplaceOriginal || got.Text != c.text {
				t.Errorf("replace_original %v, text %q", got.ReplaceOriginal, got.Text)
			}
			if !sameJSON(t, got.Blocks, c.blocks) {
				t.Errorf("blocks:\n%s\nwant\n%s", got.Blocks, c.blocks)
			}
		})
	}
}

func TestRewriteRefusesBrokenBlocks(t *testing.T) {
	if _, err := Rewrite(&Message{Blocks: []json.RawMessage{json.RawMessage(`"not a block"`)}}, Outcome{}, "", "g"); err == nil || !strings.Contains(err.Error(), "block 0") {
		t.Fatalf("err = %v", err)
	}
}

func sameJSON(t *testing.T, a json.RawMessage, b string) bool {
	t.Helper()
	if len(a) == 0 || b == "" {
		return len(a) == 0 && b == ""
	}
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("want: %v", err)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}
