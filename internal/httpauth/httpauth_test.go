package httpauth

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The guard lets in whom it should, as the role it should, and keeps
// analysts off operator routes whichever way they authenticated.
func TestGuard(t *testing.T) {
	ops := []string{"DELETE /v1/customers/{id}", "POST /v1/badrows/{id}/replay"}
	claims := map[string]map[string]string{
		"analyst":  {"cognito:groups": "[analyst]", "email": "ann@example.com", "sub": "s-1"},
		"operator": {"cognito:groups": "[analyst operator]", "username": "otto", "sub": "s-2"},
		"nobody":   {"cognito:groups": "[]", "sub": "s-3"},
	}
	guards := map[string]Guard{
		"token": {Token: "op-token", AnalystToken: "an-token", OperatorRoutes: ops},
		"jwt": {JWT: true, OperatorRoutes: ops, Claims: func(r *http.Request) (map[string]string, bool) {
			c, ok := claims[r.Header.Get("X-Test-Caller")]
			return c, ok
		}},
		"iam": {OperatorRoutes: ops},
	}
	// A prepared guard (what the functions use) answers exactly as one
	// that matches its operator routes on every Wrap.
	for _, name := range []string{"token", "jwt", "iam"} {
		guards[name+"/prepared"] = guards[name].Prepared()
	}
	cases := []struct {
		guard, method, path, bearer, caller, user string
		code                                      int
		actor                                     string
	}{
		{"token", "GET", "/v1/customers/cus_1", "", "", "", 401, ""},
		{"token", "GET", "/v1/customers/cus_1", "wrong", "", "", 401, ""},
		{"token", "GET", "/v1/customers/cus_1", "an-token", "", "Dana", 200, "console:Dana"},
		{"token", "DELETE", "/v1/customers/cus_1", "an-token", "", "", 403, ""},
		{"token", "POST", "/v1/badrows/bad_1/replay", "an-token", "", "", 403, ""},
		{"token", "DELETE", "/v1/customers/cus_1", "op-token", "", "", 200, "token"},
		{"token", "GET", "/v1/customers/cus_1", "op-token", "", "a\nb", 200, "token"},
		{"jwt", "GET", "/v1/failures", "", "", "", 401, ""},
		{"jwt", "GET", "/v1/failures", "", "nobody", "", 403, ""},
		{"jwt", "GET", "/v1/failures", "", "analyst", "Mallory", 200, "jwt:ann@example.com"},
		{"jwt", "DELETE", "/v1/customers/cus_1", "", "analyst", "", 403, ""},
		{"jwt", "DELETE", "/v1/customers/cus_1", "", "operator", "", 200, "jwt:otto"},
		{"iam", "DELETE", "/v1/customers/cus_1", "", "", "", 200, "iam"},
	}
	for _, c := range slices.Clone(cases) {
		c.guard += "/prepared"
		cases = append(cases, c)
	}
	for _, c := range cases {
		var actor string
		mux := http.NewServeMux()
		h := guards[c.guard].Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { actor = Actor(r) }))
		mux.Handle("/", h)
		req := httptest.NewRequest(c.method, c.path, nil)
		if c.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+c.bearer)
		}
		if c.caller != "" {
			req.Header.Set("X-Test-Caller", c.caller)
		}
		if c.user != "" {
			req.Header.Set(HeaderUser, c.user)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != c.code || actor != c.actor {
			t.Errorf("%s %s %s (bearer %q, caller %q): %d as %q, want %d as %q", c.guard, c.method, c.path, c.bearer, c.caller, rec.Code, actor, c.code, c.actor)
		}
	}
}

func TestParseGroups(t *testing.T) {
	for in, want := range map[string]string{"[analyst operator]": "analyst|operator", `["analyst","operator"]`: "analyst|operator", "operator": "operator", "": ""} {
		got := ""
		for i, g := range ParseGroups(in) {
			if i > 0 {
				got += "|"
			}
			got += g
		}
		if got != want {
			t.Errorf("ParseGroups(%q) = %q, want %q", in, got, want)
		}
	}
}

// userShaped accepts exactly what the pattern it spells out does.
func TestUserShapedIsThePattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[\p{L}\p{N} ._@+-]{1,64}$`)
	cases := []string{"", "a", "Zoë Ortiz", "ana.b@example.com", "x+y-z_w", "名前", "٣٤", "a\tb", "a/b", "<script>", "\xff", "a\u200bb",
		strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("é", 64), strings.Repeat("é", 65), "Ⅻ", "½", "a\nb"}
	for _, c := range cases {
		if got, want := userShaped(c), pattern.MatchString(c); got != want {
			t.Errorf("userShaped(%q) = %v, the pattern says %v", c, got, want)
		}
	}
}
