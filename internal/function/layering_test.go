package function_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ocxhq/ocx/internal/topology"
)

const module = "github.com/ocxhq/ocx/"

// owns names each function's domain packages: what only it runs.
var owns = map[string][]string{
	topology.Ingest:   {"internal/ingest", "internal/channel/delighted", "internal/channel/intercom", "internal/channel/sendgrid", "internal/channel/shopify", "internal/channel/standardwebhooks", "internal/channel/stripe", "internal/channel/twilio", "internal/channel/typeform", "internal/channel/zendesk"},
	topology.Journey:  {"internal/journey"},
	topology.Rules:    {"internal/rules"},
	topology.Notify:   {"internal/notify", "internal/notify/email", "internal/notify/slack", "internal/dispatch", "internal/inhibit", "internal/zendesk"},
	topology.Outbound: {"internal/outbound"},
	topology.Rollup:   {"internal/rollup", "internal/metric"},
	topology.API:      {"internal/api", "internal/customer", "internal/channelhealth", "internal/console", "internal/deadletter", "internal/slackaction"},
}

// borrows are the other functions' packages a function serves from, and
// why.
var borrows = map[string][]string{
	// Analysts read metrics and customers' journeys; Slack's buttons act
	// on notification groups.
	topology.API: {"internal/journey", "internal/rollup", "internal/metric", "internal/notify", "internal/dispatch", "internal/inhibit", "internal/outbound"},
}

// adapters among the packages a function owns talk to AWS themselves.
var adapters = []string{"internal/notify/email"}

// shared are domain packages more than one function runs.
var shared = []string{"events", "internal/failure", "internal/loop", "internal/identity", "internal/team", "internal/labels", "internal/silence", "internal/wakeup", "internal/channel"}

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-tags", "lambda.norpc", "-deps", module+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// A function's binary links none of another function's domain packages
// beyond what it declares it borrows.
func TestFunctionsLinkOnlyTheirOwnDomain(t *testing.T) {
	for _, f := range topology.Functions {
		if _, ok := owns[f.Name]; !ok {
			t.Errorf("function %s owns no domain packages here: add it to owns", f.Name)
			continue
		}
		linked := deps(t, "functions/"+f.Name)
		for other, pkgs := range owns {
			if other == f.Name {
				continue
			}
			for _, p := range pkgs {
				if slices.Contains(linked, module+p) && !slices.Contains(borrows[f.Name], p) {
					t.Errorf("function %s links %s, which is function %s's", f.Name, p, other)
				}
			}
		}
	}
}

// The domain speaks no AWS: no domain package depends on the AWS SDK or on
// the Lambda runtime's types.
func TestDomainImportsNoAWS(t *testing.T) {
	var domain []string
	for _, pkgs := range owns {
		for _, p := range pkgs {
			if !slices.Contains(adapters, p) {
				domain = append(domain, p)
			}
		}
	}
	domain = append(domain, shared...)
	for _, p := range domain {
		for _, d := range deps(t, p) {
			if strings.HasPrefix(d, "github.com/aws/") {
				t.Errorf("domain package %s depends on %s", p, d)
			}
		}
	}
}

// The runtime module's graph holds runtime dependencies only: the CDK and
// its tooling live in the infra module.
func TestRuntimeModuleHasNoCDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "all").Output()
	if err != nil {
		t.Fatalf("go list -m all: %v", err)
	}
	for _, m := range strings.Split(string(out), "\n") {
		for _, cdk := range []string{"aws-cdk-go", "jsii-runtime-go", "cdk-nag-go", "constructs-go", "golang.org/x/lint"} {
			if strings.Contains(m, cdk) {
				t.Errorf("the runtime module requires %s: it belongs to the infra module", m)
			}
		}
	}
}
