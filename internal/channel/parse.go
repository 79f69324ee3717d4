package channel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// SingleItem is the delivery of a request that carries one item: the item's
// draft or, when err says why the item cannot be mapped, a reject of the
// whole body.
func SingleItem(id string, body []byte, d Draft, err error) Delivery {
	var ig *IgnoreError
	if errors.As(err, &ig) {
		return Delivery{ID: id, Ignored: []Ignored{{Type: ig.Type}}}
	}
	if err != nil {
		return Delivery{ID: id, Rejects: []Reject{{Index: 0, Reason: err.Error(), Item: body}}}
	}
	return Delivery{ID: id, Events: []Draft{d}}
}

// ParseJSONItem is Parse for a kind whose request body is one JSON item of
// type T (a Stripe event, a Zendesk event, an Intercom notification). A body
// that is not JSON at all is malformed. JSON that does not fit a T is
// rejected whole as not being what ("a stripe event"), without a delivery
// id. Otherwise the delivery's id is deliveryID(item) and it carries
// draft(item) as SingleItem does (an IgnoreError ignores the item).
func ParseJSONItem[T any](req Request, what string, deliveryID func(*T) string, draft func(*T) (Draft, error)) (Delivery, error) {
	var item T
	if err := json.Unmarshal(req.Body, &item); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || len(bytes.TrimSpace(req.Body)) == 0 {
			return Delivery{}, fmt.Errorf("%w: body is not JSON: %v", ErrMalformed, err)
		}
		return SingleItem("", req.Body, Draft{}, fmt.Errorf("not %s: %w", what, err)), nil
	}
	d, err := draft(&item)
	return SingleItem(deliveryID(&item), req.Body, d, err), nil
}

// ProviderID is an id as a provider's JSON carries it: a string, or a number
// kept as its decimal text (64-bit ids do not survive a float64). null reads
// as empty.
type ProviderID string

// UnmarshalJSON implements json.Unmarshaler.
func (i *ProviderID) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || b[0] == 'n':
		*i = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*i = ProviderID(s)
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		*i = ProviderID(b)
	default:
		s := string(b)
		if len(s) > 32 {
			s = s[:32] + "…"
		}
		return fmt.Errorf("id %s is neither a number nor a string", s)
	}
	return nil
}

// SetNonEmpty sets attribute k to v unless v is empty: a value the provider
// did not send is left out rather than stored as "".
func SetNonEmpty(a map[string]any, k, v string) {
	if v != "" {
		a[k] = v
	}
}

// Set is a lookup table of provider event types.
func Set(types ...string) map[string]bool {
	m := make(map[string]bool, len(types))
	for _, t := range types {
		m[t] = true
	}
	return m
}
