package lazyregexp

import "testing"

func TestBoundStandsInForCountedRepetition(t *testing.T) {
	r := Bounded(`^[a-z]+$`, 3)
	for s, want := range map[string]bool{"": false, "a": true, "abc": true, "abcd": false, "aB": false} {
		if got := r.MatchString(s); got != want {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
	if s, bad := Disagreement(r, `^[a-z]{1,3}$`, "", "abc", "XY-", 8, 500, 1); bad {
		t.Fatalf("disagree on %q", s)
	}
	// A wrong rewrite is caught.
	if _, bad := Disagreement(Bounded(`^[a-z]+$`, 4), `^[a-z]{1,3}$`, "", "abc", "", 8, 500, 1); !bad {
		t.Fatal("a bound one too long went unnoticed")
	}
}

func TestNewIsUnbounded(t *testing.T) {
	if !New(`^a+$`).MatchString("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") || New(`^a+$`).Regexp().String() != `^a+$` {
		t.Fatal("New changed the pattern")
	}
}
