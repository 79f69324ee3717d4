package stack_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/infra/stack"
	"github.com/ocxhq/ocx/internal/topology"
)

// TestDeployDocMatchesStack keeps docs/deploy.md honest about what the code
// builds: each function's size, every context key the app reads, and every
// cdk-nag suppression with its reason as written in the code.
func TestDeployDocMatchesStack(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)

	for _, fn := range topology.Functions {
		memory, timeout, reserved, err := stack.DeployedSize(fn)
		if err != nil {
			t.Errorf("%s: %v", fn.Name, err)
			continue
		}
		concurrency := "none"
		if reserved > 0 {
			concurrency = fmt.Sprint(reserved)
		}
		row := fmt.Sprintf("| `%s` | %d MB | %s | %s |", fn.Name, memory, docDuration(timeout), concurrency)
		if !strings.Contains(doc, row) {
			t.Errorf("docs/deploy.md: no function row starting %q", row)
		}
	}

	main, err := os.ReadFile(filepath.Join("..", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	keys := regexp.MustCompile(`context(?:String|List)\(app, "([A-Za-z]+)"`).FindAllStringSubmatch(string(main), -1)
	if len(keys) == 0 {
		t.Fatal("infra/main.go reads no context keys?")
	}
	for _, k := range keys {
		if !strings.Contains(doc, "| `"+k[1]+"` |") {
			t.Errorf("docs/deploy.md: context key %s is not in the table", k[1])
		}
	}

	suppressions := map[string]bool{}
	for _, v := range variants {
		s := stages[v.name]
		for _, r := range s.tmpl.Resources {
			for _, sup := range asList(dig(r.Metadata, "cdk_nag", "rules_to_suppress")) {
				reason := fmt.Sprint(dig(sup, "reason"))
				// Reasons naming the stage's secret prefix are documented once.
				reason = strings.ReplaceAll(reason, "ocx/"+s.stage+"/", "ocx/&lt;stage&gt;/")
				suppressions[fmt.Sprint(dig(sup, "id"))+" "+reason] = true
			}
		}
	}
	if len(suppressions) == 0 {
		t.Fatal("no cdk-nag suppressions found in the templates")
	}
	var missing []string
	for sup := range suppressions {
		id, reason, _ := strings.Cut(sup, " ")
		// Secret prefixes share one row: "channel/ (or slack/)".
		reason = strings.Replace(reason, "ocx/&lt;stage&gt;/slack/", "ocx/&lt;stage&gt;/channel/ (or slack/)", 1)
		reason = strings.Replace(reason, "ocx/&lt;stage&gt;/channel/,", "ocx/&lt;stage&gt;/channel/ (or slack/),", 1)
		if !regexp.MustCompile("\\| `" + regexp.QuoteMeta(id) + "` \\|[^|\n]*\\| " + regexp.QuoteMeta(reason) + " \\|").MatchString(doc) {
			missing = append(missing, id+": "+reason)
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("docs/deploy.md: cdk-nag suppression not documented with its reason from the code: %s", m)
	}
}

// docDuration writes a timeout the way the doc's table does: "15 s", "5 min".
func docDuration(d time.Duration) string {
	if d > time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	return fmt.Sprintf("%d s", int(d/time.Second))
}
