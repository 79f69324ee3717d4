// Package channel defines what a webhook channel is: a way to verify that a
// request came from the provider and to turn its payload into canonical
// interaction events. Each provider's scheme lives in its own sub-package and
// registers itself under a kind name.
package channel

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/ocxhq/ocx/events"
)

// Errors a Kind returns; the HTTP edge maps them to status codes.
var (
	// ErrSignature means the request is not signed by a current secret.
	ErrSignature = errors.New("signature does not verify")
	// ErrStale means the signed timestamp is outside the tolerance window.
	ErrStale = errors.New("timestamp outside tolerance")
	// ErrMalformed means the payload cannot be read as the channel's format.
	ErrMalformed = errors.New("malformed payload")
)

// Request is a webhook request as the provider sent it.
type Request struct {
	Header http.Header
	Body   []byte
	// URL is the public URL the provider called, with its query string
	// (some schemes sign it).
	URL string
}

// Draft is an interaction before ingest gives it an id and provenance.
type Draft struct {
	// ID is the provider's own id for this item (Stripe event id, SendGrid
	// sg_event_id, ...), when it has one. Ingest derives the canonical event
	// id from it, so the same item delivered twice is the same event.
	ID         string
	Type       string
	OccurredAt time.Time
	Customer   events.Customer
	Attributes map[string]any
}

// Reject is an item of a verified delivery that could not be mapped. It is
// quarantined with its reason, never dropped.
type Reject struct {
	// Index is the item's position in the delivery (0 for single-item payloads).
	Index  int
	Reason string
	// Item is the item's raw JSON (or the whole body when it has no items).
	Item []byte
}

// Ignored is an item of a verified delivery that the kind deliberately
// does not map: a provider event type its catalogue (docs/channels.md)
// lists as carrying nothing OCX uses. It is answered 2xx and counted, and
// stays in the raw archive; it is never a bad row.
type Ignored struct {
	Index int
	// Type is the provider's event type, e.g. "customer.subscription.updated".
	Type string
}

// Delivery is what one verified request carries.
type Delivery struct {
	// ID is the provider's id for this delivery, used to drop redeliveries.
	// Empty means the provider has none; ingest then uses a hash of the body.
	ID      string
	Events  []Draft
	Rejects []Reject
	Ignored []Ignored
}

// IgnoreError is what a mapping returns for an item it ignores on purpose.
type IgnoreError struct {
	// Type is the provider's event type.
	Type string
}

func (e *IgnoreError) Error() string { return e.Type + " is ignored on purpose" }

// Ignore says that an item of provider event type typ is ignored on purpose.
func Ignore(typ string) error { return &IgnoreError{Type: typ} }

// Kind is one provider's webhook scheme, configured for one channel.
type Kind interface {
	// Verify checks the request against the channel's active secrets.
	Verify(req Request, secrets []string, now time.Time) error
	// Parse maps a verified request to canonical drafts. Items it cannot map
	// go to Rejects; an error (wrapping ErrMalformed) means the payload as a
	// whole is unreadable.
	Parse(req Request) (Delivery, error)
}

// Options are a channel's settings from channels.yaml (e.g. Typeform's
// question refs). A factory rejects options it does not understand.
type Options map[string]string

// Factory builds a Kind for one configured channel.
type Factory func(opts Options) (Kind, error)

// Static is a Factory for kinds that take no options.
func Static(k Kind) Factory {
	return func(opts Options) (Kind, error) {
		if len(opts) > 0 {
			return nil, fmt.Errorf("takes no options")
		}
		return k, nil
	}
}

var (
	mu    sync.RWMutex
	kinds = map[string]Factory{}
)

// Register makes a kind available to channel configuration. Provider
// packages call it from init.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := kinds[name]; dup {
		panic(fmt.Sprintf("channel kind %q registered twice", name))
	}
	kinds[name] = f
}

// Lookup returns a registered kind's factory.
func Lookup(name string) (Factory, bool) {
	mu.RLock()
	defer mu.RUnlock()
	k, ok := kinds[name]
	return k, ok
}

// Kinds lists registered kind names, sorted.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(kinds))
	for n := range kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Signer is implemented by kinds that can sign a request the way their
// provider does. The local stack's demo traffic, `ocx sign` and the
// end-to-end tests use it to send provider-shaped, correctly signed webhooks.
type Signer interface {
	// DemoSecrets derives a fixed secret pair from seed: the one that signs
	// and the one the channel verifies with (equal for shared-secret HMAC
	// schemes, a key pair for public-key schemes).
	DemoSecrets(seed string) (sign, verify string)
	// Sign sets the provider's signature headers on req, which will be
	// posted to req.URL.
	Sign(req *Request, secret string, now time.Time) error
}

// DemoKey is a deterministic, printable key derived from seed, for local
// demo secrets only.
func DemoKey(seed string, n int) []byte {
	sum := sha256.Sum256([]byte("ocx-demo:" + seed))
	out := make([]byte, n)
	for i := range out {
		out[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[int(sum[i%len(sum)])%36]
	}
	return out
}
