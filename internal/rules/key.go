package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/ocxhq/ocx/internal/identity"
)

// keyExpr picks what a rule correlates and dedupes events on: a list of
// alternatives tried in order, the first whose every path has a value
// winning. An alternative is one dotted path into the event envelope
// ("detail.customer.email") or several joined with "+"
// ("detail.channel+detail.attributes.order_id") when only together they
// identify something.
type keyExpr struct {
	alts [][][]string
}

// CustomerKey is the key rules use when they name none: the resolved
// customer id journey events carry, else the interaction's email, phone or
// channel-scoped customer id. Interactions do not carry the resolved
// customer id, so one person who writes from an email and calls from a
// phone is two keys to a per-customer rule.
var CustomerKey = []string{
	"detail.customer_id",
	"detail.customer.email",
	"detail.customer.phone",
	"detail.channel+detail.customer.id",
}

func parseKey(alts []string) (keyExpr, error) {
	if len(alts) == 0 {
		return keyExpr{}, fmt.Errorf("the key is empty")
	}
	var k keyExpr
	for _, a := range alts {
		var paths [][]string
		for _, p := range strings.Split(a, "+") {
			p = strings.TrimSpace(p)
			segs := strings.Split(p, ".")
			for _, s := range segs {
				if s == "" {
					return keyExpr{}, fmt.Errorf("key %q: %q is not a dotted path such as detail.customer.email", a, p)
				}
			}
			paths = append(paths, segs)
		}
		k.alts = append(k.alts, paths)
	}
	return k, nil
}

// maxKeyValue bounds the values part of a key before it is hashed.
const maxKeyValue = 512

// eval returns the key of a decoded event envelope, "" when no alternative
// has values. It names the paths so that equal values found at different
// paths stay different keys: "customer.email=ann@example.com".
func (k keyExpr) eval(doc any) string {
	for _, alt := range k.alts {
		names := make([]string, 0, len(alt))
		vals := make([]string, 0, len(alt))
		for _, path := range alt {
			v := keyValue(doc, path)
			if v == "" {
				break
			}
			name := strings.Join(path, ".")
			names = append(names, strings.TrimPrefix(name, "detail."))
			vals = append(vals, v)
		}
		if len(vals) == len(alt) {
			v := strings.Join(vals, "+")
			if len(v) > maxKeyValue {
				// Rule state is keyed on this in DynamoDB (2,048-byte
				// partition keys): an absurdly long value is keyed by its
				// digest rather than failing the event.
				sum := sha256.Sum256([]byte(v))
				v = "sha256:" + hex.EncodeToString(sum[:])
			}
			return strings.Join(names, "+") + "=" + v
		}
	}
	return ""
}

// keyValue is the first scalar at path, normalised so that the same
// customer keys the same way: emails lower-cased, phones in E.164.
func keyValue(doc any, path []string) string {
	for _, v := range leaves(doc, path) {
		var s string
		switch x := v.(type) {
		case string:
			s = strings.TrimSpace(x)
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			s = strconv.FormatBool(x)
		}
		switch path[len(path)-1] {
		case "email":
			s = identity.Email(s)
		case "phone":
			s = identity.Phone(s)
		}
		if s != "" {
			return s
		}
	}
	return ""
}
