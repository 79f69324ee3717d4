package stack

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ocxhq/ocx/internal/topology"
)

// addFunction creates one Lambda function with its own role, log group and
// alarms, granted exactly what topology says it touches.
func (b *builder) addFunction(fn topology.Function, bus awsevents.EventBus, archive awss3.Bucket) error {
	id := pascal(fn.Name)
	logs := awslogs.NewLogGroup(b.stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/" + b.name(fn.Name)),
		Retention:     b.settings.logRetention,
		RemovalPolicy: b.settings.removal,
	})
	// An explicit role instead of the default one keeps the managed
	// AWSLambdaBasicExecutionRole (logs on every log group) off it: the
	// function may write only to its own log group.
	role := awsiam.NewRole(b.stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("OCX " + fn.Name + " function (" + b.props.Stage + ")"),
	})
	logs.GrantWrite(role)

	env, err := b.environment(fn, bus, archive)
	if err != nil {
		return fmt.Errorf("function %s: %w", fn.Name, err)
	}
	// Memory, timeout and reserved concurrency, and why: sizing.go.
	sz, err := sizeOf(fn)
	if err != nil {
		return fmt.Errorf("function %s: %w", fn.Name, err)
	}
	var reserved *float64
	if sz.ReservedConcurrency > 0 {
		reserved = jsii.Number(float64(sz.ReservedConcurrency))
	}
	f := awslambda.NewFunction(b.stack, jsii.String(id+"Function"), &awslambda.FunctionProps{
		FunctionName:                 jsii.String(b.name(fn.Name)),
		Description:                  jsii.String(fn.Description),
		Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:                 awslambda.Architecture_ARM_64(),
		Handler:                      jsii.String("bootstrap"),
		Code:                         awslambda.Code_FromAsset(jsii.String(b.assetPath(fn.Name)), nil),
		MemorySize:                   jsii.Number(float64(sz.MemoryMB)),
		Timeout:                      awscdk.Duration_Seconds(jsii.Number(sz.Timeout.Seconds())),
		ReservedConcurrentExecutions: reserved,
		Tracing:                      awslambda.Tracing_ACTIVE,
		Role:                         role,
		LogGroup:                     logs,
		LoggingFormat:                awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2:        awslambda.ApplicationLogLevel_INFO,
		SystemLogLevelV2:             awslambda.SystemLogLevel_WARN,
		Environment:                  &env,
	})
	b.functions[fn.Name] = f

	if err := b.grant(fn, f, role, bus, archive); err != nil {
		return fmt.Errorf("function %s: %w", fn.Name, err)
	}
	b.alarms.onFunction(fn.Name, f, sz.ReservedConcurrency)
	return nil
}

// environment is what the function reads at start-up: the names of what it
// may touch, never their contents.
func (b *builder) environment(fn topology.Function, bus awsevents.EventBus, archive awss3.Bucket) (map[string]*string, error) {
	env := map[string]*string{
		topology.EnvStage:         jsii.String(b.props.Stage),
		topology.EnvBusName:       bus.EventBusName(),
		topology.EnvSecretsPrefix: jsii.String(b.secretsPrefix()),
		topology.EnvEmailFrom:     jsii.String(b.props.EmailFrom),
		topology.EnvZoneinfo:      jsii.String(topology.ZoneinfoInLambda),
	}
	if fn.Archive {
		env[topology.EnvArchiveBucket] = archive.BucketName()
		env[topology.EnvRawStreamPrefix] = jsii.String(topology.RawStreamPrefix(b.props.Stage))
	}
	// API Gateway authenticates analysts and operators before the request
	// arrives (SigV4 with the IAM authorizer, a verified token with the
	// JWT or user pool one); addSignIn tells the functions behind those
	// routes which, so they trust the caller instead of asking for a
	// bearer token.
	for _, name := range fn.Tables {
		t, ok := b.tables[name]
		if !ok {
			return nil, fmt.Errorf("unknown table %q", name)
		}
		env[topology.TableEnv(name)] = t.TableName()
	}
	return env, nil
}

// servesAnalysts reports whether any analyst route targets the function.
func servesAnalysts(name string) bool {
	for _, r := range topology.Routes {
		if r.Target == name && r.Auth == topology.Analyst {
			return true
		}
	}
	return false
}

// grant gives the function's role what topology lists and nothing else.
func (b *builder) grant(fn topology.Function, f awslambda.Function, role awsiam.Role, bus awsevents.EventBus, archive awss3.Bucket) error {
	var wildcards []*cdknag.NagPackSuppression
	for _, name := range fn.Tables {
		b.tables[name].GrantReadWriteData(f)
	}
	if len(fn.Tables) > 0 {
		wildcards = append(wildcards, suppressRegex("AwsSolutions-IAM5",
			"read/write on the function's tables includes their global secondary indexes, whose ARNs end in index/*",
			`/^Resource::<[A-Za-z0-9]+Table[A-Za-z0-9]*\.Arn>\/index\/\*$/g`))
	}
	if fn.PutsEvents {
		bus.GrantPutEventsTo(f, nil)
	}
	if fn.Archive {
		b.grantArchive(fn, f, archive)
		wildcards = append(wildcards, suppressRegex("AwsSolutions-IAM5",
			"raw payloads and claim checks lie under keys chosen at run time (channel/date/id) below fixed prefixes",
			`/^Resource::<ArchiveBucket[A-Za-z0-9]*\.Arn>\/(raw|raw-large|claims)\/\*$/g`))
	}
	if fn.SendsEmail {
		ids, err := b.emailIdentityArns()
		if err != nil {
			return err
		}
		f.AddToRolePolicy(allow([]string{"ses:SendEmail"}, ids...))
	}
	for _, prefix := range fn.Secrets {
		name := b.secretsPrefix() + prefix
		f.AddToRolePolicy(allow([]string{"secretsmanager:GetSecretValue"}, b.stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("secretsmanager"),
			Resource:     jsii.String("secret"),
			ResourceName: jsii.String(name + "*"),
			ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})))
		wildcards = append(wildcards, suppressRegex("AwsSolutions-IAM5",
			"one secret per channel or team under "+name+", added by configuration; secret ARNs end in a random suffix",
			`/^Resource::`+arnRegex("secretsmanager")+`secret:`+regexpQuote(name)+`\*$/g`))
	}
	// Active tracing needs xray:PutTraceSegments and PutTelemetryRecords,
	// which X-Ray does not scope to resources.
	wildcards = append(wildcards, &cdknag.NagPackSuppression{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("X-Ray trace upload actions support no resource-level permissions"),
		AppliesTo: &[]interface{}{"Resource::*"},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(role, &wildcards, jsii.Bool(true))
	return nil
}

// grantArchive lets a function read raw payloads: the channels' stream
// records, found by listing their hour folders under raw/, and the objects
// of earlier or oversized ones. The webhook function puts records to its
// channels' streams and writes objects only for claim checks and
// oversized records; the others with the archive erase raw payloads in
// place, rewriting them.
func (b *builder) grantArchive(fn topology.Function, f awslambda.Function, archive awss3.Bucket) {
	objects := func(prefixes ...string) []*string {
		var arns []*string
		for _, p := range prefixes {
			arns = append(arns, archive.ArnForObjects(jsii.String(p+"*")))
		}
		return arns
	}
	f.AddToRolePolicy(allow([]string{"s3:GetObject"}, objects("raw/", topology.RawLargePrefix)...))
	f.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:     awsiam.Effect_ALLOW,
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  &[]*string{archive.BucketArn()},
		Conditions: &map[string]interface{}{"StringLike": map[string]interface{}{"s3:prefix": []string{"raw/*"}}},
	}))
	if receivesWebhooks(fn.Name) {
		f.AddToRolePolicy(allow([]string{"s3:PutObject"}, objects(topology.ClaimPrefix, topology.RawLargePrefix)...))
		f.AddToRolePolicy(allow([]string{"firehose:PutRecord"}, b.rawStreamArns()...))
		return
	}
	f.AddToRolePolicy(allow([]string{"s3:PutObject"}, objects("raw/", topology.RawLargePrefix)...))
}

// emailIdentityArns are the SES identities alert mail may be sent from: the
// sender's domain, or the address itself when only it was verified.
func (b *builder) emailIdentityArns() ([]*string, error) {
	domain, err := emailDomain(b.props.EmailFrom)
	if err != nil {
		return nil, err
	}
	var arns []*string
	for _, identity := range []string{domain, b.props.EmailFrom} {
		arns = append(arns, b.stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("ses"),
			Resource:     jsii.String("identity"),
			ResourceName: jsii.String(identity),
		}))
	}
	return arns, nil
}

func emailDomain(addr string) (string, error) {
	at := strings.LastIndex(addr, "@")
	if at <= 0 || at == len(addr)-1 || strings.ContainsAny(addr, " \t<>*") {
		return "", fmt.Errorf("email sender %q: want local@domain", addr)
	}
	return addr[at+1:], nil
}

func allow(actions []string, resources ...*string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	})
}
