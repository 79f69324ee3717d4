package notify

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Attribute is one evidence attribute formatted for people.
type Attribute struct {
	Key   string
	Value string
}

// MaxAttributeValue is how many characters of an attribute value an alert
// shows; a free-text survey comment should not drown the alert.
const MaxAttributeValue = 80

// KeyAttributes picks the attributes of an evidence event worth showing in an
// alert: scalar values only, sorted by key, at most limit of them, each value
// shortened to MaxAttributeValue characters. Nested objects and lists are
// left out because they seldom read well in an alert and may hold a whole
// provider payload. Every receiver uses this, so Slack and email show the
// same facts.
func KeyAttributes(attrs map[string]any, limit int) []Attribute {
	var out []Attribute
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if len(out) == limit {
			break
		}
		v, ok := scalarString(attrs[k])
		if !ok {
			continue
		}
		out = append(out, Attribute{Key: k, Value: Shorten(v, MaxAttributeValue)})
	}
	return out
}

func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case json.Number:
		return v.String(), true
	}
	return "", false
}

// Shorten cuts s to at most n characters, ending with "…" when it cut.
func Shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func itoa(n int) string { return strconv.Itoa(n) }
