package stack

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ocxhq/ocx/internal/topology"
)

// Delivery retries. EventBridge retries only failed deliveries (throttling,
// a missing permission); Lambda then retries function errors of the
// invocations it ran asynchronously on its own, and a bus queue hands a
// failed event back after its visibility timeout (topology.Queue).
const (
	targetRetries     = 8
	targetMaxAgeHours = 24
	asyncRetries      = 2
	asyncMaxAgeHours  = 6
)

// addBus creates the stage's event bus with an archive of everything on it,
// so events can be replayed after a fix.
func (b *builder) addBus() awsevents.EventBus {
	bus := awsevents.NewEventBus(b.stack, jsii.String("Bus"), &awsevents.EventBusProps{
		EventBusName: jsii.String("ocx-" + b.props.Stage),
		Description:  jsii.String("OCX canonical events (" + b.props.Stage + ")"),
	})
	bus.Archive(jsii.String("Archive"), &awsevents.BaseArchiveProps{
		Description: jsii.String("every event on " + "ocx-" + b.props.Stage + ", for replay"),
		// An archive needs a pattern; every event carries the account.
		EventPattern: &awsevents.EventPattern{Account: &[]*string{b.stack.Account()}},
		Retention:    awscdk.Duration_Days(jsii.Number(b.settings.busArchiveDays)),
	})
	return bus
}

// addRouting creates one rule per bus rule (topology.BusRulesFor the
// configuration) and per topology.Schedule, each with retries, a
// dead-letter queue and alarms on failed deliveries. A bus rule whose
// target takes its events from a queue (topology.Function's Bus: journey, rules and rollup) delivers to
// that queue, and the function takes them in batches (addBusQueues); any
// other rule, and every schedule, invokes its function asynchronously,
// and every function so invoked gets an on-failure queue for errors it
// returns.
func (b *builder) addRouting(bus awsevents.EventBus, rules []topology.BusRule) error {
	queues, err := b.addBusQueues()
	if err != nil {
		return err
	}
	// invoked are the functions EventBridge invokes asynchronously.
	invoked := map[string]bool{}
	for _, r := range rules {
		raw, err := orPattern(r.Pattern)
		if err != nil {
			return fmt.Errorf("bus rule %s: %w", r.Name, err)
		}
		var pattern *awsevents.EventPattern
		if raw != nil {
			// Only the rule's own check that it has a pattern sees this:
			// its CloudFormation resource takes raw, below.
			pattern = &awsevents.EventPattern{Account: &[]*string{b.stack.Account()}}
		} else if pattern, err = eventPattern(r.Pattern); err != nil {
			return fmt.Errorf("bus rule %s: %w", r.Name, err)
		}
		fn, ok := b.functions[r.Target]
		if !ok {
			return fmt.Errorf("bus rule %s: unknown target %q", r.Name, r.Target)
		}
		id := pascal(r.Name)
		var target awsevents.IRuleTarget
		if q, ok := queues[r.Target]; ok {
			target = b.queueTarget(id, q)
		} else {
			target = b.target(id, fn)
			invoked[r.Target] = true
		}
		rule := awsevents.NewRule(b.stack, jsii.String(id+"Rule"), &awsevents.RuleProps{
			EventBus:     bus,
			Description:  jsii.String(r.Description),
			EventPattern: pattern,
			Targets:      &[]awsevents.IRuleTarget{target},
		})
		if raw != nil {
			rule.Node().DefaultChild().(awsevents.CfnRule).SetEventPattern(raw)
		}
		b.alarms.onRule(id, r.Name, rule, bus.EventBusName(), "replay them from the bus archive")
	}
	for _, s := range topology.Schedules {
		fn, ok := b.functions[s.Target]
		if !ok {
			return fmt.Errorf("schedule %s: unknown target %q", s.Name, s.Target)
		}
		id := pascal(s.Name) + "Schedule"
		rule := awsevents.NewRule(b.stack, jsii.String(id+"Rule"), &awsevents.RuleProps{
			Description: jsii.String(s.Description),
			Schedule:    awsevents.Schedule_Expression(jsii.String(s.Expression())),
			Targets:     &[]awsevents.IRuleTarget{b.target(id, fn)},
		})
		// Schedules run on the default bus.
		b.alarms.onRule(id, "schedule "+s.Name, rule, nil, "a missed run is caught up by the next one")
		invoked[s.Target] = true
	}
	for _, fn := range topology.Functions {
		if invoked[fn.Name] {
			b.configureAsync(fn.Name, b.functions[fn.Name])
		}
	}
	// The API lists what is on every dead-letter queue and redrives the bus
	// events among it (GET /v1/deadletters, `ocx redrive`).
	if api, ok := b.functions[topology.API]; ok {
		urls := make([]*string, len(b.deadLetters))
		for i, q := range b.deadLetters {
			urls[i] = q.QueueUrl()
			q.GrantConsumeMessages(api)
		}
		api.AddEnvironment(jsii.String(topology.EnvDeadLetterQueues), awscdk.Fn_Join(jsii.String(","), &urls), nil)
	}
	return nil
}

// target invokes fn, parking events EventBridge could not deliver in a
// dead-letter queue of their own.
func (b *builder) target(id string, fn awslambda.Function) awsevents.IRuleTarget {
	dlq := b.deadLetterQueue(id+"DeadLetters", "events the "+id+" rule could not deliver")
	return awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: dlq,
		RetryAttempts:   jsii.Number(targetRetries),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(targetMaxAgeHours)),
	})
}

// configureAsync keeps events a function invoked asynchronously (by a bus
// rule or a schedule) failed on: after its retries Lambda sends the
// invocation record to an on-failure queue. The events a function takes
// from its bus queue go to that queue's dead-letter queue instead.
func (b *builder) configureAsync(name string, fn awslambda.Function) {
	failed := b.deadLetterQueue(pascal(name)+"Failures", "events the "+name+" function failed on after retries")
	fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(asyncRetries),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(asyncMaxAgeHours)),
		OnFailure:     awslambdadestinations.NewSqsDestination(failed),
	})
	if f, _ := topology.FunctionByName(name); f.DeadLetters {
		// The function parks what it could not deliver there itself (a
		// notification after its last retry), and says so in a metric.
		fn.AddEnvironment(jsii.String(topology.EnvDeadLetterQueue), failed.QueueUrl(), nil)
		failed.GrantSendMessages(fn)
		b.alarms.onUndeliverable(name)
	}
}

// deadLetterQueue creates an encrypted queue holding failed deliveries for
// 14 days, alarmed as soon as anything lands in it.
func (b *builder) deadLetterQueue(id, what string) awssqs.Queue {
	q := awssqs.NewQueue(b.stack, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
		RemovalPolicy:   b.settings.removal,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(q, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("this queue is itself a dead-letter queue (EventBridge target DLQ or Lambda on-failure destination)"),
	}}, jsii.Bool(true))
	b.alarms.onQueue(id, what, q)
	b.deadLetters = append(b.deadLetters, q)
	return q
}

// wirePattern is an EventBridge pattern as topology writes it. Top-level
// fields other than detail must be lists of exact strings: that is all
// awsevents.EventPattern can carry, and anything else fails loudly here
// instead of being dropped.
type wirePattern struct {
	Source     []string       `json:"source"`
	DetailType []string       `json:"detail-type"`
	Detail     map[string]any `json:"detail"`
	Account    []string       `json:"account"`
	Region     []string       `json:"region"`
	Resources  []string       `json:"resources"`
	ID         []string       `json:"id"`
	Version    []string       `json:"version"`
	Time       []string       `json:"time"`
}

// eventPattern converts a topology pattern into the CDK's form.
func eventPattern(pattern string) (*awsevents.EventPattern, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(pattern)))
	dec.DisallowUnknownFields()
	var w wirePattern
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("pattern %s: %w", pattern, err)
	}
	p := &awsevents.EventPattern{
		Source:     stringList(w.Source),
		DetailType: stringList(w.DetailType),
		Account:    stringList(w.Account),
		Region:     stringList(w.Region),
		Resources:  stringList(w.Resources),
		Id:         stringList(w.ID),
		Version:    stringList(w.Version),
		Time:       stringList(w.Time),
	}
	if w.Detail != nil {
		p.Detail = &w.Detail
	}
	return p, nil
}

// orPattern returns a pattern with a top-level $or (the outbound rule's,
// topology.OutboundPattern) as decoded JSON, for the rule's CloudFormation
// resource: awsevents.EventPattern has no field for $or. It returns nil
// for any other pattern, which eventPattern carries.
func orPattern(pattern string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(pattern), &m); err != nil {
		return nil, fmt.Errorf("pattern %s: %w", pattern, err)
	}
	if _, ok := m["$or"]; !ok {
		return nil, nil
	}
	return m, nil
}

func stringList(ss []string) *[]*string {
	if ss == nil {
		return nil
	}
	return jsii.Strings(ss...)
}
