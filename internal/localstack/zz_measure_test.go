package localstack_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestZZMeasureBatch(t *testing.T) {
	h := newHostile(t)
	for _, n := range []int{1000, 3000} {
		var items []string
		for i := range n {
			items = append(items, fmt.Sprintf(`{"email":"m%d-%d@example.com","timestamp":%d,"event":"unsubscribe","sg_event_id":"ev-%d-%d","sg_message_id":"m%d"}`, n, i, h.now().Unix(), n, i, i))
		}
		start := time.Now()
		code, raw, _ := h.post("sendgrid", []byte("["+strings.Join(items, ",")+"]"), nil)
		t.Logf("%d unsubscribes: %d in %s: %.120s", n, code, time.Since(start), raw)
		s2 := time.Now()
		h.st.Router().Idle()
		t.Logf("pipeline idle after %s", time.Since(s2))
	}
}
