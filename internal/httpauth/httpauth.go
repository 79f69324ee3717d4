// Package httpauth protects analyst and operator routes. In AWS, API
// Gateway's authorizer (IAM, or a JWT authorizer in front of a user pool)
// has already authenticated the caller; locally a bearer token stands in
// for it.
//
// Two roles: analysts read and act on failures; operators may also do what
// cannot be taken back or touches raw data (erase a customer, undo a merge,
// replay bad rows). Operator routes are named by their mux patterns, so
// every handler behind the guard is checked the same way whichever package
// registered it.
package httpauth

import (
	"context"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ocxhq/ocx/internal/httpjson"
)

// Roles.
const (
	RoleAnalyst  = "analyst"
	RoleOperator = "operator"
)

// Guard wraps handlers that need an authenticated caller.
type Guard struct {
	// Token, when set, is the bearer token of an operator (who is an
	// analyst too). Empty with JWT false means the gateway authenticates
	// with IAM, whose policies separate the roles (OCX_API_AUTH=iam).
	Token string
	// AnalystToken, when set, is a bearer token that grants the analyst
	// role only.
	AnalystToken string
	// JWT means API Gateway's JWT authorizer validated the caller's token;
	// the role comes from its groups claim (OCX_API_AUTH=jwt).
	JWT bool
	// Claims returns the claims the authorizer validated, from the
	// request's API Gateway context (the Lambda adapter puts it there).
	Claims func(r *http.Request) (map[string]string, bool)
	// GroupsClaim names the claim listing the caller's groups;
	// "cognito:groups" when empty.
	GroupsClaim string
	// OperatorRoutes are the mux patterns (e.g. "DELETE
	// /v1/customers/{id}") only operators may call.
	OperatorRoutes []string
	// ops matches OperatorRoutes, built once by Prepared.
	ops *http.ServeMux
}

// Prepared returns the guard with its operator routes matched once for
// every route it wraps, instead of once per Wrap: the API wraps some fifty
// routes, and rebuilding the matcher for each was a millisecond of every
// cold start.
func (g Guard) Prepared() Guard {
	g.ops = operatorMux(g.OperatorRoutes)
	return g
}

func operatorMux(routes []string) *http.ServeMux {
	if len(routes) == 0 {
		return nil
	}
	ops := http.NewServeMux()
	for _, p := range routes {
		ops.Handle(p, http.NotFoundHandler())
	}
	return ops
}

type principalKey struct{}

// Principal is who made a request, as the guard established it.
type Principal struct {
	// ID names the caller in lifecycle records: "jwt:<email or sub>",
	// "console:<name>" or "token".
	ID    string
	Roles []string
}

// Has reports whether p holds role.
func (p Principal) Has(role string) bool { return slices.Contains(p.Roles, role) }

// FromContext returns the principal the guard stored, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Actor names the caller of r for lifecycle records: the guard's principal,
// or "api" when the route was not guarded.
func Actor(r *http.Request) string {
	if p, ok := FromContext(r.Context()); ok && p.ID != "" {
		return p.ID
	}
	return "api"
}

// HeaderUser lets a bearer-token caller (the console locally) say whose
// hands are on the keyboard. The shared token is the authentication; the
// name only labels lifecycle steps, prefixed "console:".
const HeaderUser = "X-OCX-User"

// userShaped is ^[\p{L}\p{N} ._@+-]{1,64}$ written out: compiling that
// pattern's Unicode classes costs every function's cold start 6 ms.
func userShaped(s string) bool {
	if n := utf8.RuneCountInString(s); n < 1 || n > 64 {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) && !strings.ContainsRune(" ._@+-", r) {
			return false
		}
	}
	return true
}

// Wrap returns h behind the guard: any authenticated caller passes, and a
// request matching OperatorRoutes needs the operator role.
func (g Guard) Wrap(h http.Handler) http.Handler {
	ops := g.ops
	if ops == nil {
		ops = operatorMux(g.OperatorRoutes)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := g.authenticate(w, r)
		if !ok {
			return
		}
		if ops != nil && !p.Has(RoleOperator) {
			if _, pattern := ops.Handler(r); pattern != "" {
				httpjson.Error(w, http.StatusForbidden, "this action needs the operator role")
				return
			}
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func (g Guard) authenticate(w http.ResponseWriter, r *http.Request) (Principal, bool) {
	switch {
	case g.JWT:
		return g.fromClaims(w, r)
	case g.Token == "" && g.AnalystToken == "":
		// IAM: the gateway let the caller in; its policy decided which
		// routes it may call.
		return Principal{ID: "iam", Roles: []string{RoleAnalyst, RoleOperator}}, true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	id := "token"
	if u := strings.TrimSpace(r.Header.Get(HeaderUser)); userShaped(u) {
		id = "console:" + u
	}
	switch {
	case ok && g.Token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(g.Token)) == 1:
		return Principal{ID: id, Roles: []string{RoleAnalyst, RoleOperator}}, true
	case ok && g.AnalystToken != "" && subtle.ConstantTimeCompare([]byte(got), []byte(g.AnalystToken)) == 1:
		return Principal{ID: id, Roles: []string{RoleAnalyst}}, true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="ocx"`)
	httpjson.Error(w, http.StatusUnauthorized, "missing or wrong bearer token")
	return Principal{}, false
}

// fromClaims reads the claims API Gateway's JWT authorizer validated. A
// caller in neither group is refused: signing in is not enough.
func (g Guard) fromClaims(w http.ResponseWriter, r *http.Request) (Principal, bool) {
	var claims map[string]string
	ok := false
	if g.Claims != nil {
		claims, ok = g.Claims(r)
	}
	if !ok {
		httpjson.Error(w, http.StatusUnauthorized, "no validated token")
		return Principal{}, false
	}
	claim := g.GroupsClaim
	if claim == "" {
		claim = "cognito:groups"
	}
	var roles []string
	for _, grp := range ParseGroups(claims[claim]) {
		if grp == RoleOperator {
			roles = append(roles, RoleAnalyst, RoleOperator)
		} else if grp == RoleAnalyst {
			roles = append(roles, RoleAnalyst)
		}
	}
	if len(roles) == 0 {
		httpjson.Error(w, http.StatusForbidden, "signed in, but in neither the analyst nor the operator group")
		return Principal{}, false
	}
	// Cognito's access tokens carry username, ID tokens and most OIDC
	// providers email.
	who := claims["email"]
	if who == "" {
		who = claims["username"]
	}
	if who == "" {
		who = claims["sub"]
	}
	return Principal{ID: "jwt:" + who, Roles: roles}, true
}

// ParseGroups reads a groups claim as API Gateway passes it: a JSON-ish
// list "[a b]" or "[\"a\",\"b\"]", or a plain comma or space separated
// string.
func ParseGroups(v string) []string {
	v = strings.Trim(strings.TrimSpace(v), "[]")
	f := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '"' })
	return f
}
