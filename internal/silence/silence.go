// Package silence mutes notifications of failures matching a set of label
// matchers for a while: during planned maintenance, or while a known
// problem is being fixed. A silence records who created it and why. It mutes
// at delivery time, so a failure stays recorded and visible in the API.
package silence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ocxhq/ocx/internal/labels"
)

// Silence mutes failures matching every matcher between StartsAt and EndsAt.
type Silence struct {
	ID        string           `json:"id"`
	Matchers  []labels.Matcher `json:"-"`
	StartsAt  time.Time        `json:"starts_at"`
	EndsAt    time.Time        `json:"ends_at"`
	CreatedBy string           `json:"created_by"`
	Comment   string           `json:"comment"`
	CreatedAt time.Time        `json:"created_at"`
}

// plain is Silence without its JSON methods, so wire can embed it.
type plain Silence

// wire is a Silence as JSON: matchers as text.
type wire struct {
	plain
	Matchers []string `json:"matchers"`
}

// States of a silence at a given time.
const (
	Pending = "pending"
	Active  = "active"
	Expired = "expired"
)

// State says whether s is pending, active or expired at t.
func (s Silence) State(t time.Time) string {
	switch {
	case t.Before(s.StartsAt):
		return Pending
	case t.Before(s.EndsAt):
		return Active
	}
	return Expired
}

// Mutes reports whether s mutes a failure with labels l at t.
func (s Silence) Mutes(l labels.Set, t time.Time) bool {
	return s.State(t) == Active && labels.All(s.Matchers, l)
}

// MarshalJSON writes the matchers as text.
func (s Silence) MarshalJSON() ([]byte, error) {
	return json.Marshal(wire{plain: plain(s), Matchers: labels.Strings(s.Matchers)})
}

// UnmarshalJSON reads matchers written as text.
func (s *Silence) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	ms, err := labels.ParseAll(w.Matchers)
	if err != nil {
		return err
	}
	*s = Silence(w.plain)
	s.Matchers = ms
	return nil
}

// ErrInvalid is wrapped by every error about a silence that cannot be created.
var ErrInvalid = errors.New("invalid silence")

// ErrNotFound is returned for an id no silence has.
var ErrNotFound = errors.New("no such silence")

// MaxDuration bounds a silence: a forgotten one must not mute a team for ever.
const MaxDuration = 90 * 24 * time.Hour

// Request is what a person asks for: matchers, a window, who and why.
type Request struct {
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at,omitzero"`
	EndsAt    time.Time `json:"ends_at,omitzero"`
	Duration  string    `json:"duration,omitempty"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
}

// New checks r and makes the silence it asks for, starting now unless it
// says otherwise. It ends at EndsAt, or Duration after it starts.
func New(r Request, now time.Time) (Silence, error) {
	bad := func(format string, args ...any) (Silence, error) {
		return Silence{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	if len(r.Matchers) == 0 {
		return bad("matchers: at least one, such as rule=\"email.bounced\"; a silence of everything is refused")
	}
	ms, err := labels.ParseAll(r.Matchers)
	if err != nil {
		return bad("%v", err)
	}
	if strings.TrimSpace(r.CreatedBy) == "" {
		return bad("created_by: say who silences")
	}
	if strings.TrimSpace(r.Comment) == "" {
		return bad("comment: say why")
	}
	s := Silence{Matchers: ms, StartsAt: r.StartsAt.UTC(), EndsAt: r.EndsAt.UTC(), CreatedBy: r.CreatedBy, Comment: r.Comment, CreatedAt: now.UTC()}
	if r.StartsAt.IsZero() {
		s.StartsAt = now.UTC()
	}
	switch {
	case r.Duration != "" && !r.EndsAt.IsZero():
		return bad("give ends_at or duration, not both")
	case r.Duration != "":
		d, err := time.ParseDuration(r.Duration)
		if err != nil || d <= 0 {
			return bad("duration %q: want a positive duration such as 2h", r.Duration)
		}
		s.EndsAt = s.StartsAt.Add(d)
	case r.EndsAt.IsZero():
		return bad("ends_at or duration is required")
	}
	if !s.EndsAt.After(s.StartsAt) || !s.EndsAt.After(now) {
		return bad("ends_at must be after starts_at and in the future")
	}
	if s.EndsAt.Sub(s.StartsAt) > MaxDuration {
		return bad("a silence lasts at most %s", MaxDuration)
	}
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	s.ID = "sil_" + hex.EncodeToString(b)
	return s, nil
}

// Store keeps silences.
type Store interface {
	Put(ctx context.Context, s Silence) error
	// List returns every silence kept, newest first.
	List(ctx context.Context) ([]Silence, error)
	// Expire ends the silence at `at`, or returns ErrNotFound.
	Expire(ctx context.Context, id string, at time.Time) (Silence, error)
}
