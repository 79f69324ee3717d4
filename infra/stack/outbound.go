package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/ocxhq/ocx/internal/emf"
	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/topology"
)

// addOutbound completes the outbound webhook function, which topology
// already gave its table, secrets read access, wake-up queue, bus rule and
// failures queue: it checks the subscriptions, creates each one's signing
// secret (a placeholder until an operator puts a whsec_ secret in), points
// ${OCX_OUTBOUND_URL} where Props.OutboundURL says, and alarms when an
// endpoint is disabled.
func (b *builder) addOutbound(subs []outbound.Subscription) error {
	seen := map[string]bool{}
	for _, s := range subs {
		if seen[s.Secret] {
			continue
		}
		seen[s.Secret] = true
		b.newSecret("OutboundSecret"+pascal(s.Secret), topology.SecretOutboundPrefix+s.Secret,
			"whsec_ signing secret(s) of outbound webhook subscription "+s.ID+", space-separated during rotation")
	}
	if b.props.OutboundURL != "" {
		// The API lists the subscription as active, the function sends to it.
		for _, name := range []string{topology.Outbound, topology.API} {
			fn, ok := b.functions[name]
			if !ok {
				return fmt.Errorf("outbound: no function %s", name)
			}
			fn.AddEnvironment(jsii.String(topology.EnvOutboundURL), jsii.String(b.props.OutboundURL), nil)
		}
	}
	b.alarms.add("OutboundEndpointDisabledAlarm", fmt.Sprintf("an outbound webhook endpoint failed every attempt for %s and was disabled: "+
		"fix it, then POST /v1/outbound/endpoints/{id}/enable and /replay-failed", outbound.DisableAfter),
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(emf.Namespace), MetricName: jsii.String(outbound.MetricDisabled),
			Statistic: jsii.String("Sum"), Period: period(),
		}), anyAtAll)
	return nil
}
