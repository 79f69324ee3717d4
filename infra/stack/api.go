package stack

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ocxhq/ocx/internal/topology"
)

// accessLogFormat is one JSON line per request, with HTTP API context
// variables only.
const accessLogFormat = `{"requestId":"$context.requestId","requestTime":"$context.requestTime",` +
	`"sourceIp":"$context.identity.sourceIp","routeKey":"$context.routeKey","status":"$context.status",` +
	`"protocol":"$context.protocol","responseLength":"$context.responseLength",` +
	`"latencyMs":"$context.responseLatency","integrationLatencyMs":"$context.integrationLatency",` +
	`"integrationError":"$context.integrationErrorMessage","authError":"$context.authorizer.error"}`

// httpAPI is the HTTP API and the pieces the outputs refer to.
type httpAPI struct {
	api   awsapigatewayv2.HttpApi
	stage awsapigatewayv2.HttpStage
	// analysts and operators are the policies attached to analysts' and
	// operators' principals; nil when people sign in with a token.
	analysts, operators awsiam.ManagedPolicy
	signIn              *signIn
	// domain is the custom domain, or nil.
	domain awsapigatewayv2.DomainName
}

// addAPI creates the HTTP API with one route per topology.Route. Analyst
// routes require SigV4 (IAM) or, with analystAuth=jwt, a token from the
// configured issuer; public routes authenticate themselves (webhooks by
// signature). No CORS configuration: no browser calls it, so browsers get
// no CORS headers and cross-origin calls stay closed.
func (b *builder) addAPI() (*httpAPI, error) {
	api := awsapigatewayv2.NewHttpApi(b.stack, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		ApiName:     jsii.String(b.name("api")),
		Description: jsii.String("OCX webhooks and analyst queries (" + b.props.Stage + ")"),
		// The stage is created below so that it can carry throttling and
		// access logs.
		CreateDefaultStage: jsii.Bool(false),
	})
	stage := b.addAPIStage(api)
	signIn := b.addSignIn(api)
	for name, f := range b.functions {
		if servesAnalysts(name) {
			for k, v := range signIn.env {
				f.AddEnvironment(jsii.String(k), v, nil)
			}
		} else if name == topology.Notify {
			// Alerts link customers and failures to their console pages.
			f.AddEnvironment(jsii.String(envConsoleURL), signIn.env[envConsoleURL], nil)
		}
	}

	integrations := map[string]awsapigatewayv2integrations.HttpLambdaIntegration{}
	var analystArns, operatorArns []*string
	for _, r := range topology.Routes {
		fn, ok := b.functions[r.Target]
		if !ok {
			return nil, fmt.Errorf("route %s %s: unknown target %q", r.Method, r.Path, r.Target)
		}
		integ, ok := integrations[r.Target]
		if !ok {
			integ = awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(pascal(r.Target)+"Integration"), fn, nil)
			integrations[r.Target] = integ
		}
		opts := &awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
			Integration: integ,
		}
		switch r.Auth {
		case topology.Analyst:
			opts.Authorizer = signIn.authorizer
			arn := api.ArnForExecuteApi(jsii.String(r.Method), jsii.String(iamPath(r.Path)), stage.StageName())
			if r.Operator {
				operatorArns = append(operatorArns, arn)
			} else {
				analystArns = append(analystArns, arn)
			}
		case topology.Public:
			// No authorizer: the route proves callers itself.
		default:
			return nil, fmt.Errorf("route %s %s: unknown auth %d", r.Method, r.Path, r.Auth)
		}
		routes := api.AddRoutes(opts)
		if r.Auth == topology.Public {
			for _, route := range *routes {
				cdknag.NagSuppressions_AddResourceSuppressions(route, &[]*cdknag.NagPackSuppression{{
					Id:     jsii.String("AwsSolutions-APIG4"),
					Reason: jsii.String("public by design: webhooks are verified by their signature in the ingest function; health checks, the console's page, assets and sign-in configuration expose no data"),
				}}, jsii.Bool(true))
			}
		}
	}
	b.alarms.onAPI(api)
	out := &httpAPI{api: api, stage: stage, domain: b.addDomain(api, stage), signIn: signIn}
	if b.props.AnalystAuth == AnalystAuthIAM {
		out.analysts = b.callerPolicy("AnalystPolicy", "call the OCX analyst API", analystArns)
		out.operators = b.callerPolicy("OperatorPolicy", "call the OCX analyst and operator API (erase, unmerge, replay)",
			append(append([]*string{}, analystArns...), operatorArns...))
	}
	return out, nil
}

// addDomain maps the API's stage onto the custom domain, when one is set.
// TLS 1.2 is the minimum; the DNS record pointing the domain at the
// regional endpoint (the CustomDomainTarget output) is the operator's.
func (b *builder) addDomain(api awsapigatewayv2.HttpApi, stage awsapigatewayv2.HttpStage) awsapigatewayv2.DomainName {
	if b.props.DomainName == "" {
		return nil
	}
	domain := awsapigatewayv2.NewDomainName(b.stack, jsii.String("ApiDomain"), &awsapigatewayv2.DomainNameProps{
		DomainName:     jsii.String(b.props.DomainName),
		Certificate:    awscertificatemanager.Certificate_FromCertificateArn(b.stack, jsii.String("ApiCertificate"), jsii.String(b.props.CertificateArn)),
		EndpointType:   awsapigatewayv2.EndpointType_REGIONAL,
		SecurityPolicy: awsapigatewayv2.SecurityPolicy_TLS_1_2,
	})
	awsapigatewayv2.NewApiMapping(b.stack, jsii.String("ApiMapping"), &awsapigatewayv2.ApiMappingProps{
		Api:        api,
		DomainName: domain,
		Stage:      stage,
	})
	return domain
}

// addAPIStage creates the $default stage with throttling and JSON access logs.
func (b *builder) addAPIStage(api awsapigatewayv2.HttpApi) awsapigatewayv2.HttpStage {
	stage := awsapigatewayv2.NewHttpStage(b.stack, jsii.String("ApiStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    api,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(b.settings.apiRate),
			BurstLimit: jsii.Number(b.settings.apiBurst),
		},
	})
	logs := awslogs.NewLogGroup(b.stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     b.settings.logRetention,
		RemovalPolicy: b.settings.removal,
	})
	// Access logs are set on the L1 stage: the L2 takes them only through an
	// interface that Go code cannot implement across jsii.
	cfn := stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfn.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: logs.LogGroupArn(),
		Format:         jsii.String(accessLogFormat),
	})
	return stage
}

// webhookPath is the path channels POST to, with a {channel} parameter.
func webhookPath() (string, bool) {
	for _, r := range topology.Routes {
		if r.Target == topology.Ingest && strings.Contains(r.Path, "{channel}") {
			return r.Path, true
		}
	}
	return "", false
}

var pathParam = regexp.MustCompile(`\{[^}/]+\}`)

// iamPath turns a route path into the resource part of an execute-api ARN:
// each {param} matches any one segment.
func iamPath(path string) string { return pathParam.ReplaceAllString(path, "*") }

// callerPolicy allows calling the given routes and nothing else: the
// analysts' policy (analyst routes) or the operators' (analyst and operator
// routes), attached to their roles or users.
func (b *builder) callerPolicy(id, what string, arns []*string) awsiam.ManagedPolicy {
	if len(arns) == 0 {
		return nil
	}
	p := awsiam.NewManagedPolicy(b.stack, jsii.String(id), &awsiam.ManagedPolicyProps{
		Description: jsii.String(what + " (" + b.props.Stage + ")"),
		Statements:  &[]awsiam.PolicyStatement{allow([]string{"execute-api:Invoke"}, arns...)},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(p, &[]*cdknag.NagPackSuppression{
		suppressRegex("AwsSolutions-IAM5",
			"execute-api ARNs of routes with path parameters end in * for the parameter segment",
			`/^Resource::`+arnRegex("execute-api")+`<Api[A-Za-z0-9]*>\/.*$/g`),
	}, jsii.Bool(true))
	return p
}

// addOutputs publishes what operators and channels need: the API URL (and
// the custom domain's), one webhook URL per channel, the analyst policy and
// the alarm topic.
func (b *builder) addOutputs(api *httpAPI, cfg configured) {
	awscdk.NewCfnOutput(b.stack, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{
		Description: jsii.String("base URL of the HTTP API"),
		Value:       api.api.ApiEndpoint(),
	})
	// Channels are pointed at the custom domain when there is one, so the
	// API can be replaced without touching every provider's settings.
	base := api.api.ApiEndpoint()
	if api.domain != nil {
		base = jsii.String("https://" + b.props.DomainName)
		awscdk.NewCfnOutput(b.stack, jsii.String("CustomDomainUrl"), &awscdk.CfnOutputProps{
			Description: jsii.String("base URL of the HTTP API on its custom domain"),
			Value:       base,
		})
		awscdk.NewCfnOutput(b.stack, jsii.String("CustomDomainTarget"), &awscdk.CfnOutputProps{
			Description: jsii.String("point a CNAME (or alias, with CustomDomainHostedZoneId) for " + b.props.DomainName + " at this name"),
			Value:       api.domain.RegionalDomainName(),
		})
		awscdk.NewCfnOutput(b.stack, jsii.String("CustomDomainHostedZoneId"), &awscdk.CfnOutputProps{
			Description: jsii.String("hosted zone id of CustomDomainTarget, for a Route 53 alias record"),
			Value:       api.domain.RegionalHostedZoneId(),
		})
	}
	if path, ok := webhookPath(); ok {
		for _, ch := range cfg.channels {
			awscdk.NewCfnOutput(b.stack, jsii.String("WebhookUrl"+pascal(ch)), &awscdk.CfnOutputProps{
				Description: jsii.String("webhook URL for channel " + ch),
				Value:       jsii.String(*base + strings.ReplaceAll(path, "{channel}", ch)),
			})
		}
	}
	if api.analysts != nil {
		awscdk.NewCfnOutput(b.stack, jsii.String("AnalystPolicyArn"), &awscdk.CfnOutputProps{
			Description: jsii.String("attach to analysts to let them call the /v1 query routes"),
			Value:       api.analysts.ManagedPolicyArn(),
		})
	}
	if api.operators != nil {
		awscdk.NewCfnOutput(b.stack, jsii.String("OperatorPolicyArn"), &awscdk.CfnOutputProps{
			Description: jsii.String("attach to operators: the analyst routes plus erase, unmerge and replay"),
			Value:       api.operators.ManagedPolicyArn(),
		})
	}
	awscdk.NewCfnOutput(b.stack, jsii.String("ConsoleUrl"), &awscdk.CfnOutputProps{
		Description: jsii.String("the OCX console"),
		Value:       jsii.String(*b.consoleURL(api.api) + "/"),
	})
	if s := api.signIn; s.pool != nil {
		awscdk.NewCfnOutput(b.stack, jsii.String("ConsoleUserPoolId"), &awscdk.CfnOutputProps{
			Description: jsii.String("add people to the analyst or operator group of this user pool"),
			Value:       s.pool.UserPoolId(),
		})
		awscdk.NewCfnOutput(b.stack, jsii.String("ConsoleSignInUrl"), &awscdk.CfnOutputProps{
			Description: jsii.String("the user pool's hosted sign-in domain"),
			Value:       s.domain.BaseUrl(nil),
		})
	}
	awscdk.NewCfnOutput(b.stack, jsii.String("AlarmTopicArn"), &awscdk.CfnOutputProps{
		Description: jsii.String("subscribe on-call to this topic"),
		Value:       b.alarms.topic.TopicArn(),
	})
}
