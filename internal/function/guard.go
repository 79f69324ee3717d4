package function

import (
	"fmt"
	"net/http"

	"github.com/ocxhq/ocx/internal/apigw"
	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/topology"
)

// Environment of the guard and the console's sign-in.
const (
	EnvAPIToken       = "OCX_API_TOKEN"
	EnvAnalystToken   = "OCX_ANALYST_TOKEN"
	EnvJWTGroupsClaim = "OCX_JWT_GROUPS_CLAIM"
	// EnvPublicBaseURL is the scheme and host providers call, for schemes
	// that sign the URL (Twilio), when it differs from what the request says.
	EnvPublicBaseURL = "OCX_PUBLIC_BASE_URL"
)

// Guard protects analyst and operator routes: OCX_API_AUTH=iam trusts API
// Gateway's IAM authorizer; otherwise OCX_API_TOKEN is the bearer token.
//
// OCX_API_AUTH=jwt trusts API Gateway's JWT authorizer and takes the
// caller's role from its groups claim (OCX_JWT_GROUPS_CLAIM, default
// cognito:groups). OCX_ANALYST_TOKEN, when set, is a second bearer token
// that cannot call operator routes.
func (d Deps) Guard() (httpauth.Guard, error) {
	ops := topology.OperatorRoutes()
	switch d.Getenv(topology.EnvAPIAuth) {
	case "iam":
		return httpauth.Guard{}, nil
	case "jwt":
		return httpauth.Guard{JWT: true, Claims: jwtClaims, GroupsClaim: d.Getenv(EnvJWTGroupsClaim), OperatorRoutes: ops}.Prepared(), nil
	}
	v, err := d.Require(EnvAPIToken)
	if err != nil {
		return httpauth.Guard{}, fmt.Errorf("%w (or set %s=iam behind an IAM authorizer)", err, topology.EnvAPIAuth)
	}
	return httpauth.Guard{Token: v[EnvAPIToken], AnalystToken: d.Getenv(EnvAnalystToken), OperatorRoutes: ops}.Prepared(), nil
}

// jwtClaims reads the claims API Gateway's JWT authorizer validated from
// the request context the API Gateway translation (apigw) stores.
func jwtClaims(r *http.Request) (map[string]string, bool) {
	rc, ok := apigw.RequestContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil {
		return nil, false
	}
	return rc.Authorizer.JWT.Claims, true
}
