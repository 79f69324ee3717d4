package stack_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ocxhq/ocx/infra/stack"
)

var update = flag.Bool("update", false, "rewrite the golden templates under testdata/ from this synthesis")

// TestSnapshot compares each stage's template with its golden copy, so
// every change to what would be deployed shows up in review. After an
// intended change:
//
//	cd infra && go test ./stack -run TestSnapshot -update
func TestSnapshot(t *testing.T) {
	for _, stage := range []string{stack.StageDev, stack.StageProd} {
		t.Run(stage, func(t *testing.T) {
			got := normalise(stages[stage].raw)
			golden := filepath.Join("testdata", "ocx-"+stage+".template.json")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v\nno golden template: cd infra && go test ./stack -run TestSnapshot -update", err)
			}
			if !bytes.Equal(got, want) {
				// Keep the synthesized template for a line-by-line look.
				synth := filepath.Join(os.TempDir(), "ocx-"+stage+".template.json")
				if err := os.WriteFile(synth, got, 0o644); err != nil {
					t.Log(err)
				}
				t.Errorf("the %s template differs from its golden copy (+ added, - removed, ~ changed):\n%s\n"+
					"see the lines: diff -u infra/stack/%s %s\n"+
					"if the change is intended, review it and run: cd infra && go test ./stack -run TestSnapshot -update",
					stage, templateDiff(want, got), golden, synth)
			}
		})
	}
}

var (
	// assetHash is a CDK asset hash (sha256 in hex): it changes with every
	// build of the function binaries.
	assetHash = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	// cdkOut is a path into a cdk.out directory or the test's temporary
	// directory, which differ from machine to machine.
	cdkOut = regexp.MustCompile(`"[^"]*(cdk\.out|ocx-infra-test-)[^"]*"`)
)

// normalise replaces what differs between builds and machines with
// placeholders, and ends the file with a newline.
func normalise(raw []byte) []byte {
	out := assetHash.ReplaceAll(raw, []byte("<asset-hash>"))
	out = cdkOut.ReplaceAll(out, []byte(`"<cdk.out>"`))
	return append(bytes.TrimRight(out, "\n"), '\n')
}

// templateDiff summarises how got differs from want, resource by resource:
// a template is reviewed by what it would add, remove or change, which a
// line diff of pretty-printed JSON obscures.
func templateDiff(want, got []byte) string {
	var a, b map[string]any
	if err := json.Unmarshal(want, &a); err != nil {
		return "golden template is not JSON: " + err.Error()
	}
	if err := json.Unmarshal(got, &b); err != nil {
		return "synthesized template is not JSON: " + err.Error()
	}
	var out []string
	for _, section := range unionKeys(a, b) {
		sa, okA := a[section].(map[string]any)
		sb, okB := b[section].(map[string]any)
		if !okA || !okB || section == "Description" {
			if !reflect.DeepEqual(a[section], b[section]) {
				out = append(out, "~ "+section)
			}
			continue
		}
		for _, id := range unionKeys(sa, sb) {
			ea, inA := sa[id]
			eb, inB := sb[id]
			switch {
			case !inA:
				out = append(out, fmt.Sprintf("+ %s %s%s", section, id, typeOf(eb)))
			case !inB:
				out = append(out, fmt.Sprintf("- %s %s%s", section, id, typeOf(ea)))
			case !reflect.DeepEqual(ea, eb):
				out = append(out, fmt.Sprintf("~ %s %s%s: %s", section, id, typeOf(eb), strings.Join(changedFields(ea, eb), ", ")))
			}
		}
	}
	const maxLines = 40
	if len(out) > maxLines {
		out = append(out[:maxLines], fmt.Sprintf("… and %d more", len(out)-maxLines))
	}
	return strings.Join(out, "\n")
}

func unionKeys(a, b map[string]any) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func typeOf(v any) string {
	if typ, ok := dig(v, "Type").(string); ok {
		return " (" + typ + ")"
	}
	return ""
}

// changedFields names what differs in a resource: its properties one by
// one, and any other attribute (DeletionPolicy, Metadata…).
func changedFields(a, b any) []string {
	ma, _ := a.(map[string]any)
	mb, _ := b.(map[string]any)
	var fields []string
	for _, k := range unionKeys(ma, mb) {
		if reflect.DeepEqual(ma[k], mb[k]) {
			continue
		}
		pa, okA := ma[k].(map[string]any)
		pb, okB := mb[k].(map[string]any)
		if k != "Properties" || !okA || !okB {
			fields = append(fields, k)
			continue
		}
		for _, p := range unionKeys(pa, pb) {
			if !reflect.DeepEqual(pa[p], pb[p]) {
				fields = append(fields, "Properties."+p)
			}
		}
	}
	return fields
}

func TestTemplateDiff(t *testing.T) {
	want := []byte(`{"Resources":{"A":{"Type":"AWS::SQS::Queue","Properties":{"X":1,"Y":2}},` +
		`"B":{"Type":"AWS::SNS::Topic"}},"Outputs":{"Url":{"Value":"a"}}}`)
	got := []byte(`{"Resources":{"A":{"Type":"AWS::SQS::Queue","Properties":{"X":1,"Y":3},"DeletionPolicy":"Retain"},` +
		`"C":{"Type":"AWS::Lambda::Function"}},"Outputs":{"Url":{"Value":"a"}}}`)
	wantDiff := strings.Join([]string{
		"~ Resources A (AWS::SQS::Queue): DeletionPolicy, Properties.Y",
		"- Resources B (AWS::SNS::Topic)",
		"+ Resources C (AWS::Lambda::Function)",
	}, "\n")
	if d := templateDiff(want, got); d != wantDiff {
		t.Errorf("templateDiff:\n%s\nwant:\n%s", d, wantDiff)
	}
}

func TestNormalise(t *testing.T) {
	hash := strings.Repeat("0123456789abcdef", 4)
	in := `{"S3Key":"` + hash + `.zip","aws:asset:path":"/tmp/ocx-infra-test-123/cdk.out-dev/asset.` + hash + `"}`
	want := `{"S3Key":"<asset-hash>.zip","aws:asset:path":"<cdk.out>"}` + "\n"
	if got := string(normalise([]byte(in))); got != want {
		t.Errorf("normalise = %s, want %s", got, want)
	}
}
