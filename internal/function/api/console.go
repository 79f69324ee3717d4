package api

import (
	"github.com/ocxhq/ocx/internal/console"
	"github.com/ocxhq/ocx/internal/function"
	"github.com/ocxhq/ocx/internal/topology"
)

// Environment of the console's sign-in.
const (
	// EnvOIDC* describe the user pool's (or OIDC provider's) endpoints and
	// the console's app client.
	EnvOIDCAuthorizeURL = "OCX_OIDC_AUTHORIZE_URL"
	EnvOIDCTokenURL     = "OCX_OIDC_TOKEN_URL"
	EnvOIDCLogoutURL    = "OCX_OIDC_LOGOUT_URL"
	EnvOIDCClientID     = "OCX_OIDC_CLIENT_ID"
)

// LocalAPIToken is the local stack's documented default token: the only
// one the console offers to a visitor without asking.
const LocalAPIToken = "ocx-local-token"

// consoleConfig tells the console how to sign in.
func consoleConfig(d function.Deps) console.Config {
	cfg := console.Config{OperatorRoutes: topology.OperatorRoutes(), Auth: console.Auth{Mode: "token"}}
	switch d.Getenv(topology.EnvAPIAuth) {
	case "jwt":
		cfg.Auth = console.Auth{Mode: "oidc", AuthorizeURL: d.Getenv(EnvOIDCAuthorizeURL), TokenURL: d.Getenv(EnvOIDCTokenURL),
			LogoutURL: d.Getenv(EnvOIDCLogoutURL), ClientID: d.Getenv(EnvOIDCClientID), Scope: "openid email"}
	case "iam":
		cfg.Auth = console.Auth{Mode: "iam"}
	default:
		if d.Getenv(function.EnvAPIToken) == LocalAPIToken {
			cfg.Auth.DefaultToken = LocalAPIToken
		}
	}
	return cfg
}
