package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/jsii-runtime-go"

	"github.com/ocxhq/ocx/internal/httpauth"
	"github.com/ocxhq/ocx/internal/topology"
)

// Environment the api and ingest functions read for sign-in (the names
// internal/app reads).
const (
	envJWTGroupsClaim   = "OCX_JWT_GROUPS_CLAIM"
	envOIDCAuthorizeURL = "OCX_OIDC_AUTHORIZE_URL"
	envOIDCTokenURL     = "OCX_OIDC_TOKEN_URL"
	envOIDCLogoutURL    = "OCX_OIDC_LOGOUT_URL"
	envOIDCClientID     = "OCX_OIDC_CLIENT_ID"
	envConsoleURL       = "OCX_CONSOLE_URL"
)

// signIn is how people reach the analyst and operator routes.
type signIn struct {
	authorizer awsapigatewayv2.IHttpRouteAuthorizer
	// env is added to every function behind analyst or operator routes.
	env map[string]*string
	// pool is the stack's user pool with AnalystAuthCognito, else nil.
	pool   awscognito.UserPool
	client awscognito.UserPoolClient
	domain awscognito.UserPoolDomain
}

// consoleURL is where the console is served: the custom domain, or the
// API's own endpoint.
func (b *builder) consoleURL(api awsapigatewayv2.HttpApi) *string {
	if b.props.DomainName != "" {
		return jsii.String("https://" + b.props.DomainName)
	}
	return api.ApiEndpoint()
}

// addSignIn builds the authorizer of the analyst and operator routes.
//
// With AnalystAuthCognito the stack provisions a Cognito user pool (no
// self sign-up, MFA required, threat protection enforced) with an
// "analyst" and an "operator" group and the console's app client
// (authorization code with PKCE, no secret); API Gateway validates its
// access tokens and the functions take the role from cognito:groups, so
// erasure, unmerge and replay need the operator group. With AnalystAuthJWT
// any OIDC provider does the same with its groups claim. With IAM the two
// roles are two managed policies.
func (b *builder) addSignIn(api awsapigatewayv2.HttpApi) *signIn {
	console := b.consoleURL(api)
	switch b.props.AnalystAuth {
	case AnalystAuthCognito:
		s := b.addUserPool(console)
		s.authorizer = awsapigatewayv2authorizers.NewHttpUserPoolAuthorizer(jsii.String("ConsoleUserPoolAuthorizer"), s.pool,
			&awsapigatewayv2authorizers.HttpUserPoolAuthorizerProps{
				AuthorizerName:  jsii.String(b.name("console")),
				UserPoolClients: &[]awscognito.IUserPoolClient{s.client},
			})
		return s
	case AnalystAuthJWT:
		// API Gateway fetches the issuer's keys (OIDC discovery), checks the
		// token's signature, expiry, issuer and audience; the function sees
		// only authenticated requests and reads the groups claim.
		env := map[string]*string{
			topology.EnvAPIAuth: jsii.String("jwt"),
			envConsoleURL:       console,
		}
		if b.props.JWTGroupsClaim != "" {
			env[envJWTGroupsClaim] = jsii.String(b.props.JWTGroupsClaim)
		}
		if b.props.OIDCAuthorizeURL != "" {
			env[envOIDCAuthorizeURL] = jsii.String(b.props.OIDCAuthorizeURL)
			env[envOIDCTokenURL] = jsii.String(b.props.OIDCTokenURL)
			env[envOIDCClientID] = jsii.String(b.props.JWTAudience[0])
		}
		return &signIn{env: env, authorizer: awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("AnalystJwtAuthorizer"),
			jsii.String(b.props.JWTIssuer), &awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
				AuthorizerName: jsii.String(b.name("analysts")),
				JwtAudience:    jsii.Strings(b.props.JWTAudience...),
			})}
	default:
		// "iam" means the gateway authenticated the caller and its policy
		// chose the routes it may call.
		return &signIn{authorizer: awsapigatewayv2authorizers.NewHttpIamAuthorizer(),
			env: map[string]*string{topology.EnvAPIAuth: jsii.String("iam"), envConsoleURL: console}}
	}
}

// addUserPool creates the user pool, its groups, hosted sign-in domain and
// the console's client.
func (b *builder) addUserPool(console *string) *signIn {
	pool := awscognito.NewUserPool(b.stack, jsii.String("ConsoleUsers"), &awscognito.UserPoolProps{
		UserPoolName:      jsii.String(b.name("console")),
		SelfSignUpEnabled: jsii.Bool(false),
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(12), RequireLowercase: jsii.Bool(true), RequireUppercase: jsii.Bool(true),
			RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
		},
		Mfa:             awscognito.Mfa_REQUIRED,
		MfaSecondFactor: &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery: awscognito.AccountRecovery_EMAIL_ONLY,
		// Threat protection (compromised credentials, adaptive sign-in)
		// needs the Plus plan.
		FeaturePlan:                  awscognito.FeaturePlan_PLUS,
		StandardThreatProtectionMode: awscognito.StandardThreatProtectionMode_FULL_FUNCTION,
		DeletionProtection:           jsii.Bool(b.props.Stage == StageProd),
		RemovalPolicy:                b.settings.removal,
	})
	for _, g := range []struct{ name, desc string }{
		{httpauth.RoleAnalyst, "reads failures, customers and metrics; acknowledges, resolves, assigns and notes failures"},
		{httpauth.RoleOperator, "everything an analyst does, and erases customers, undoes merges and replays bad rows"},
	} {
		awscognito.NewCfnUserPoolGroup(b.stack, jsii.String("ConsoleGroup"+pascal(g.name)), &awscognito.CfnUserPoolGroupProps{
			UserPoolId: pool.UserPoolId(), GroupName: jsii.String(g.name), Description: jsii.String(g.desc),
		})
	}
	// The hosted sign-in pages: a prefix unique to the account and stage.
	domain := pool.AddDomain(jsii.String("ConsoleSignIn"), &awscognito.UserPoolDomainOptions{
		CognitoDomain: &awscognito.CognitoDomainOptions{
			DomainPrefix: awscdk.Fn_Join(jsii.String("-"), &[]*string{jsii.String("ocx"), jsii.String(b.props.Stage), awscdk.Aws_ACCOUNT_ID()}),
		},
	})
	back := awscdk.Fn_Join(jsii.String(""), &[]*string{console, jsii.String("/")})
	client := pool.AddClient(jsii.String("Console"), &awscognito.UserPoolClientOptions{
		UserPoolClientName: jsii.String(b.name("console")),
		GenerateSecret:     jsii.Bool(false),
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL()},
			CallbackUrls: &[]*string{back},
			LogoutUrls:   &[]*string{back},
		},
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
		PreventUserExistenceErrors: jsii.Bool(true),
		AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(1)),
		IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(1)),
		RefreshTokenValidity:       awscdk.Duration_Hours(jsii.Number(12)),
		EnableTokenRevocation:      jsii.Bool(true),
	})
	base := domain.BaseUrl(nil)
	join := func(parts ...*string) *string { return awscdk.Fn_Join(jsii.String(""), &parts) }
	env := map[string]*string{
		topology.EnvAPIAuth: jsii.String("jwt"),
		envOIDCAuthorizeURL: join(base, jsii.String("/oauth2/authorize")),
		envOIDCTokenURL:     join(base, jsii.String("/oauth2/token")),
		envOIDCLogoutURL:    join(base, jsii.String("/logout?client_id="), client.UserPoolClientId(), jsii.String("&logout_uri="), back),
		envOIDCClientID:     client.UserPoolClientId(),
		envConsoleURL:       console,
	}
	return &signIn{env: env, pool: pool, client: client, domain: domain}
}
