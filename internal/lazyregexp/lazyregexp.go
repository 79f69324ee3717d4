// Package lazyregexp is a regular expression compiled on first use rather
// than at package init, where every function's cold start would pay for
// the patterns of code it may never run. A length bound stands in for a
// counted repetition ({1,200}), which the regexp package compiles into as
// many copies of its operand.
package lazyregexp

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
)

// Regexp is a pattern compiled on first use, optionally with a bound on
// the length of what it matches.
type Regexp struct {
	expr   string
	maxLen int
	re     func() *regexp.Regexp
}

// New returns expr, compiled on first use.
func New(expr string) *Regexp { return Bounded(expr, 0) }

// Bounded returns expr, compiled on first use, matching only strings of
// at most maxLen bytes (0: no bound).
func Bounded(expr string, maxLen int) *Regexp {
	return &Regexp{expr: expr, maxLen: maxLen, re: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })}
}

// Regexp is the compiled pattern (without the length bound).
func (r *Regexp) Regexp() *regexp.Regexp { return r.re() }

// MatchString reports whether s is within the bound and matches.
func (r *Regexp) MatchString(s string) bool {
	if r.maxLen > 0 && len(s) > r.maxLen {
		return false
	}
	return r.re().MatchString(s)
}

// Rewrite is a bounded pattern and the counted one it stands for, with
// what Disagreement draws its strings from.
type Rewrite struct {
	R                    *Regexp
	Original             string
	Prefix, Valid, Other string
}

// Check runs Disagreement on each rewrite (strings of up to maxLen after
// the prefix, 2,000 of them) and names the first that disagrees.
func Check(maxLen int, rewrites ...Rewrite) error {
	for _, w := range rewrites {
		if s, bad := Disagreement(w.R, w.Original, w.Prefix, w.Valid, w.Other, maxLen, 2000, 7); bad {
			return fmt.Errorf("%s and its rewrite disagree on %q", w.Original, s)
		}
	}
	return nil
}

// Disagreement looks for a string that r and the pattern original judge
// differently: n random strings of up to maxLen characters, half of them
// after prefix, drawn from valid with now and then one from other, each
// also cut to every length. It returns the first such string; tests use
// it to show a rewritten pattern is the one it replaces.
func Disagreement(r *Regexp, original, prefix, valid, other string, maxLen, n int, seed uint64) (string, bool) {
	want := regexp.MustCompile(original)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for range n {
		var b strings.Builder
		if rng.IntN(2) == 0 {
			b.WriteString(prefix)
		}
		for range rng.IntN(maxLen + 1) {
			if other != "" && rng.IntN(50) == 0 {
				b.WriteByte(other[rng.IntN(len(other))])
			} else {
				b.WriteByte(valid[rng.IntN(len(valid))])
			}
		}
		s := b.String()
		for i := 0; i <= len(s); i++ {
			if r.MatchString(s[:i]) != want.MatchString(s[:i]) {
				return s[:i], true
			}
		}
	}
	return "", false
}
