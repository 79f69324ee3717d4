// Command infra is the OCX CDK app: `cdk synth -c stage=prod` builds the
// stack for a stage from the function binaries under the assets directory.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ocxhq/ocx/infra/config"
	"github.com/ocxhq/ocx/infra/stack"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	stage := contextString(app, "stage", stack.StageDev)
	_, err := stack.New(app, "ocx-"+stage, stack.Props{
		Stage:      stage,
		AssetsDir:  contextString(app, "assets", ".build"),
		EmailFrom:  contextString(app, "emailFrom", stack.DefaultEmailFrom),
		AlarmEmail: contextString(app, "alarmEmail", ""),
		Config:     config.Shipped,
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
