package ingest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"unicode/utf8"

	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/identity"
)

// Edge limits: what the pipeline behind the edge can keep. Anything past
// them is refused (the in-house channel) or quarantined item by item (a
// provider's batch) with its raw copy, never answered 5xx, which would
// make the sender retry something that can never be kept.
const (
	// MaxDepth bounds JSON nesting in a body; PutEvents stops at about
	// 1,000 levels and nothing OCX maps is deeper than a handful.
	MaxDepth = 32
	// MaxTypeBytes is EventBridge's limit on a detail-type, which is the
	// event type; the rollup keys on it too.
	MaxTypeBytes = 128
	// MaxKeyBytes bounds an attribute name.
	MaxKeyBytes = 128
	// MaxStringBytes bounds one attribute string (a survey comment);
	// the raw archive keeps longer text.
	MaxStringBytes = 32 << 10
	// MaxItems bounds the events one delivery publishes, so publishing
	// ends well inside Deadline.
	MaxItems = 1000
)

// problem is an item or request past a limit: the status it earns when
// the whole request is refused, and why.
type problem struct {
	status int
	reason string
}

func (p problem) Error() string { return p.reason }

// jsonDepth returns the deepest nesting of arrays and objects in b,
// counting no further than limit+1. Bytes inside strings do not count.
func jsonDepth(b []byte, limit int) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > limit {
					return deepest
				}
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// checkDraft reports the first limit a draft breaks.
func checkDraft(dr channel.Draft) *problem {
	if len(dr.Type) > MaxTypeBytes {
		return &problem{http.StatusBadRequest, fmt.Sprintf("event type is %d bytes, over the %d-byte limit", len(dr.Type), MaxTypeBytes)}
	}
	if !utf8.ValidString(dr.Type) || dr.Type == "" {
		return &problem{http.StatusBadRequest, "event type is empty or not UTF-8"}
	}
	return checkValue(dr.Attributes, 1, "attributes")
}

func checkValue(v any, depth int, path string) *problem {
	if depth > MaxDepth {
		return &problem{http.StatusBadRequest, fmt.Sprintf("%s nested deeper than %d levels", path, MaxDepth)}
	}
	switch v := v.(type) {
	case string:
		if len(v) > MaxStringBytes {
			return &problem{http.StatusRequestEntityTooLarge, fmt.Sprintf("%s is a %d-byte string, over the %d-byte limit", path, len(v), MaxStringBytes)}
		}
	case map[string]any:
		// Sorted, so the same payload always names the same problem.
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if len(k) > MaxKeyBytes {
				return &problem{http.StatusBadRequest, fmt.Sprintf("%s has a %d-byte key, over the %d-byte limit", path, len(k), MaxKeyBytes)}
			}
			if p := checkValue(v[k], depth+1, path+"."+k); p != nil {
				return p
			}
		}
	case []any:
		for i, x := range v {
			if p := checkValue(x, depth+1, fmt.Sprintf("%s[%d]", path, i)); p != nil {
				return p
			}
		}
	}
	return nil
}

// screen applies the edge limits and identity validation to a parsed
// delivery. A strict channel (the in-house one, all-or-nothing) gets the
// first problem back as the request's answer; for a provider's delivery,
// each failing item joins the rejects and the rest go on. Identity values
// that cannot be used are dropped with a note; an item left with no usable
// key is a reject. At most limit events are kept; the rest are rejects.
func screen(d channel.Delivery, strict bool, limit int) (channel.Delivery, []Reason, *problem) {
	if strict && len(d.Events) > limit {
		return d, nil, &problem{http.StatusRequestEntityTooLarge, fmt.Sprintf("%d events in one request, over the limit of %d; send them in smaller batches", len(d.Events), MaxItems)}
	}
	var notes []Reason
	kept := make([]channel.Draft, 0, len(d.Events))
	reject := func(i int, dr channel.Draft, reason string) {
		item, _ := json.Marshal(map[string]any{"type": dr.Type, "id": dr.ID})
		d.Rejects = append(d.Rejects, channel.Reject{Index: i, Reason: reason, Item: item})
	}
	for i, dr := range d.Events {
		if p := checkDraft(dr); p != nil {
			if strict {
				return d, nil, &problem{p.status, fmt.Sprintf("event %d: %s", i, p.reason)}
			}
			reject(i, dr, p.reason)
			continue
		}
		cust, dropped := identity.Validate(dr.Customer)
		if cust.Empty() {
			reason := "no usable customer identity"
			if len(dropped) > 0 {
				reason += ": " + droppedText(dropped)
			}
			if strict {
				return d, nil, &problem{http.StatusBadRequest, fmt.Sprintf("event %d: %s", i, reason)}
			}
			reject(i, dr, reason)
			continue
		}
		if len(dropped) > 0 {
			notes = append(notes, Reason{Index: i, Kept: true, Reason: droppedText(dropped) + "; the event was kept on its other keys"})
		}
		dr.Customer = cust
		if len(kept) == limit {
			reject(i, dr, fmt.Sprintf("over %d events in one delivery; replay the bad row to publish it", limit))
			continue
		}
		kept = append(kept, dr)
	}
	d.Events = kept
	return d, notes, nil
}

func droppedText(ds []identity.Dropped) string {
	s := ""
	for i, d := range ds {
		if i > 0 {
			s += ", "
		}
		s += "customer." + d.Field + " dropped (" + d.Reason + ")"
	}
	return s
}
