package events

import "strings"

// Severities a failure may carry, from least to most urgent. Rules use
// info, warning and critical; error and page rank where their names say.
var severityRank = map[string]int{"info": 1, "warning": 2, "error": 3, "critical": 4, "page": 5}

// SeverityRank orders severities: higher is more urgent, 0 is unknown.
func SeverityRank(severity string) int { return severityRank[strings.ToLower(severity)] }

// WorstSeverity is the most urgent severity among fs, lower-cased, or
// "failure" when none says.
func WorstSeverity(fs []Failure) string {
	out := ""
	for _, f := range fs {
		if s := strings.ToLower(f.Severity); out == "" || SeverityRank(s) > SeverityRank(out) {
			out = s
		}
	}
	if out == "" {
		return "failure"
	}
	return out
}
