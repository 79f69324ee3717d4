package stack

import (
	"regexp"
	"strings"

	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// pascal turns a topology or configuration name such as
// "interactions-to-journey" into a construct id part, "InteractionsToJourney".
func pascal(s string) string {
	var out strings.Builder
	upper := true
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
			if upper {
				out.WriteString(strings.ToUpper(string(r)))
			} else {
				out.WriteRune(r)
			}
			upper = false
		default:
			upper = true
		}
	}
	return out.String()
}

// suppressRegex is a cdk-nag suppression limited to findings whose subject
// matches regex (cdk-nag's "/pattern/flags" form), so a new, unplanned
// wildcard still fails the checks.
func suppressRegex(id, reason, regex string) *cdknag.NagPackSuppression {
	return &cdknag.NagPackSuppression{
		Id:        jsii.String(id),
		Reason:    jsii.String(reason),
		AppliesTo: &[]interface{}{&cdknag.RegexAppliesTo{Regex: jsii.String(regex)}},
	}
}

// regexpQuote escapes s for a cdk-nag regex, including the slashes that
// delimit it.
func regexpQuote(s string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(s), "/", `\/`)
}

// arnRegex matches the start of an ARN of service as cdk-nag renders it:
// partition, region and account are tokens in an environment-agnostic stack
// and literals in one bound to an account and region.
func arnRegex(service string) string {
	return `arn:(<AWS::Partition>|aws[a-z-]*):` + service + `:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):`
}
