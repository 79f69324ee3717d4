// Package channel defines what a webhook channel is: a way to verify that a
// request came from the provider and to turn its payload into canonical
// interaction events. Each provider's scheme lives in its own sub-package and
// registers itself under a kind name.
package channel

import (
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
	// URL is the public URL the provider called (some schemes sign it).
	URL string
}

// Draft is an interaction before ingest gives it an id and provenance.
type Draft struct {
	Type       string
	OccurredAt time.Time
	Customer   events.Customer
	Attributes map[string]any
}

// Delivery is what one verified request carries.
type Delivery struct {
	// ID is the provider's id for this delivery, used to drop redeliveries.
	ID     string
	Events []Draft
}

// Kind is one provider's webhook scheme.
type Kind interface {
	// Verify checks the request against the channel's active secrets.
	Verify(req Request, secrets []string, now time.Time) error
	// Parse maps a verified request to canonical drafts.
	Parse(req Request) (Delivery, error)
}

var (
	mu    sync.RWMutex
	kinds = map[string]Kind{}
)

// Register makes a kind available to channel configuration. Provider
// packages call it from init.
func Register(name string, k Kind) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := kinds[name]; dup {
		panic(fmt.Sprintf("channel kind %q registered twice", name))
	}
	kinds[name] = k
}

// Lookup returns a registered kind.
func Lookup(name string) (Kind, bool) {
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
