// Command infra is the OCX CDK app: `cdk synth -c stage=prod` builds the
// stack for a stage from the function binaries under the assets directory.
//
// Context keys (`-c key=value`, see docs/deploy.md): stage, assets,
// emailFrom, alarmEmail, domainName, certificateArn, analystAuth (iam, jwt or
// cognito), jwtIssuer, jwtGroupsClaim, oidcAuthorizeUrl, oidcTokenUrl,
// jwtAudience (comma-separated).
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/infra/stack"
)

// defaultAssets is `make build`'s output as seen from this module's
// directory, where cdk.json runs the app (go run -C infra .).
const defaultAssets = "../.build"

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	stage := contextString(app, "stage", stack.StageDev)
	_, err := stack.New(app, "ocx-"+stage, stack.Props{
		Stage:      stage,
		AssetsDir:  contextString(app, "assets", defaultAssets),
		EmailFrom:  contextString(app, "emailFrom", stack.DefaultEmailFrom),
		AlarmEmail: contextString(app, "alarmEmail", ""),
		Config:     config.Shipped,

		DomainName:     contextString(app, "domainName", ""),
		CertificateArn: contextString(app, "certificateArn", ""),
		AnalystAuth:    contextString(app, "analystAuth", stack.AnalystAuthIAM),
		JWTIssuer:      contextString(app, "jwtIssuer", ""),
		JWTAudience:    contextList(app, "jwtAudience"),
		JWTGroupsClaim: contextString(app, "jwtGroupsClaim", ""),

		OIDCAuthorizeURL: contextString(app, "oidcAuthorizeUrl", ""),
		OIDCTokenURL:     contextString(app, "oidcTokenUrl", ""),
		OutboundURL:      contextString(app, "outboundUrl", ""),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocx infra:", err)
		os.Exit(1)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
}

// contextString reads a `-c key=value` context value, or def when unset.
func contextString(app awscdk.App, key, def string) string {
	if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok && v != "" {
		return v
	}
	return def
}

// contextList reads a comma-separated context value, or a JSON list given
// in cdk.json, skipping empty entries.
func contextList(app awscdk.App, key string) []string {
	var out []string
	switch v := app.Node().TryGetContext(jsii.String(key)).(type) {
	case string:
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok && strings.TrimSpace(s) != "" {
				out = append(out, strings.TrimSpace(s))
			}
		}
	}
	return out
}
