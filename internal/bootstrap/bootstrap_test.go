package bootstrap

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocxhq/ocx/internal/runtimeapi"
	"github.com/ocxhq/ocx/internal/topology"
)

var updateDoc = flag.Bool("update-binaries", false, "measure sizes and init and rewrite docs/binaries.md")

// root is the module root, where `go build` runs.
const root = "../.."

func functions() []string {
	var out []string
	for _, f := range topology.Functions {
		out = append(out, f.Name)
	}
	return out
}

// buildAll builds hello-world and every function for goos/goarch.
func buildAll(t testing.TB, goos, goarch string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	pkgs := map[string]string{"hello-world": "./internal/bootstrap/testdata/hello"}
	for _, f := range functions() {
		pkgs[f] = "./functions/" + f
	}
	for name, pkg := range pkgs {
		path := filepath.Join(dir, name, "bootstrap")
		if err := Build(context.Background(), root, pkg, goos, goarch, path); err != nil {
			t.Fatal(err)
		}
		out[name] = path
	}
	return out
}

// Every function's arm64 bootstrap stays within its budget: what one
// function links is its own code, not the others'.
func TestBootstrapSizes(t *testing.T) {
	bins := buildAll(t, "linux", "arm64")
	for _, f := range append([]string{"hello-world"}, functions()...) {
		n, err := Size(bins[f])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-12s %5.1f MB", f, float64(n)/1e6)
		if f != "hello-world" && n > MaxSize {
			t.Errorf("%s bootstrap is %.1f MB, over its %.1f MB budget: see what it links with `go list -deps ./functions/%s`",
				f, float64(n)/1e6, float64(MaxSize)/1e6, f)
		}
	}
}

// A function's init runs against the stub Runtime API and reaches its
// first request for an invocation: the environment Env gives is enough,
// and init calls no AWS API.
func TestInitReachesNext(t *testing.T) {
	bins := buildAll(t, runtime.GOOS, runtime.GOARCH)
	for _, f := range functions() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := Init(ctx, bins[f], Env()); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		cancel()
	}
}

// initMedians measures each bootstrap's init runs times, interleaved
// (one of each in turn, so drift in the machine's load falls on all
// alike), and returns the medians.
func initMedians(t testing.TB, bins map[string]string, names []string, runs int) map[string]time.Duration {
	t.Helper()
	samples := map[string][]time.Duration{}
	for range runs {
		for _, n := range names {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			d, err := Init(ctx, bins[n], Env())
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			samples[n] = append(samples[n], d)
		}
	}
	out := map[string]time.Duration{}
	for n, s := range samples {
		slices.Sort(s)
		out[n] = s[len(s)/2]
	}
	return out
}

const initRuns = 21

// sdkInit is how long the AWS SDK's own packages (aws-sdk-go-v2 and
// smithy-go) take to initialise in one start of bootstrap, summed from the
// runtime's GODEBUG=inittrace=1 lines: the part of init no code of ours
// runs, whether a client is used or not.
func sdkInit(t testing.TB, bootstrap string) time.Duration {
	t.Helper()
	var logs bytes.Buffer
	p, err := runtimeapi.Start(bootstrap, append(Env(), "GODEBUG=inittrace=1"), &logs)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.API.Nexts():
	case <-p.Exited():
	case <-time.After(30 * time.Second):
	}
	p.Stop() // waits for the process, so logs is complete
	var sum time.Duration
	for _, line := range strings.Split(logs.String(), "\n") {
		// init github.com/aws/aws-sdk-go-v2/service/dynamodb/schemas @10 ms, 3.6 ms clock, ...
		f := strings.Fields(line)
		if len(f) < 7 || f[0] != "init" || f[6] != "clock," {
			continue
		}
		if !strings.HasPrefix(f[1], "github.com/aws/aws-sdk-go-v2") && !strings.HasPrefix(f[1], "github.com/aws/smithy-go") {
			continue
		}
		ms, err := strconv.ParseFloat(f[4], 64)
		if err != nil {
			t.Fatalf("inittrace line %q: %v", line, err)
		}
		sum += time.Duration(ms * float64(time.Millisecond))
	}
	return sum
}

// BenchmarkInit reports each function's median init beside hello-world's,
// built the same way for this machine:
//
//	go test -run '^$' -bench Init -benchtime 1x ./internal/bootstrap/
func BenchmarkInit(b *testing.B) {
	bins := buildAll(b, runtime.GOOS, runtime.GOARCH)
	names := append([]string{"hello-world"}, functions()...)
	for b.Loop() {
		med := initMedians(b, bins, names, initRuns)
		floor := med["hello-world"]
		for _, n := range names {
			b.ReportMetric(float64(med[n].Microseconds())/1000, n+"-init-ms")
			b.ReportMetric(float64(med[n])/float64(floor), n+"-x-floor")
		}
	}
}

// TestBinariesDoc rewrites docs/binaries.md from a fresh measurement when
// run with -update-binaries; otherwise it checks the doc names every
// function.
func TestBinariesDoc(t *testing.T) {
	path := filepath.Join(root, "docs", "binaries.md")
	if !*updateDoc {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (generate it: go test -run TestBinariesDoc ./internal/bootstrap/ -update-binaries)", err)
		}
		for _, f := range functions() {
			if !strings.Contains(string(b), "| "+f+" |") {
				t.Errorf("docs/binaries.md has no row for %s: regenerate it with -update-binaries", f)
			}
		}
		return
	}
	arm := buildAll(t, "linux", "arm64")
	native := buildAll(t, runtime.GOOS, runtime.GOARCH)
	names := append([]string{"hello-world"}, functions()...)
	med := initMedians(t, native, names, initRuns)
	floor := med["hello-world"]
	sdk := map[string]time.Duration{}
	for _, n := range names {
		var runs []time.Duration
		for range initRuns {
			runs = append(runs, sdkInit(t, native[n]))
		}
		slices.Sort(runs)
		sdk[n] = runs[len(runs)/2]
	}
	var sb strings.Builder
	sb.WriteString(docHead)
	fmt.Fprintf(&sb, "Measured on %s/%s, %d cores, %s; init medians over %d interleaved runs.\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), initRuns)
	sb.WriteString("| function | arm64 size | init (median) | × hello-world | over the floor | of which AWS SDK package init |\n|---|---:|---:|---:|---:|---:|\n")
	for _, n := range names {
		size, err := Size(arm[n])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "| %s | %.1f MB | %.1f ms | %.2f | %+.1f ms | %.1f ms |\n", n, float64(size)/1e6,
			float64(med[n].Microseconds())/1000, float64(med[n])/float64(floor), float64((med[n]-floor).Microseconds())/1000,
			float64(sdk[n].Microseconds())/1000)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

const docHead = `# Binaries: size and init

Each function is its own binary (` + "`functions/<name>/main.go`" + ` hands
` + "`lambda.Start`" + ` the handler ` + "`internal/function/<name>`" + ` builds)
and links only what it runs. ` + "`make test`" + ` builds the seven arm64 bootstraps
with ` + "`make build`" + `'s flags and fails when one exceeds 12 MB
(` + "`TestBootstrapSizes`" + `). Init is the time from exec to the bootstrap's
first request for an invocation on a stub Runtime API, beside a
hello-world aws-lambda-go function built the same way, for this machine's
architecture (arm64 binaries do not run here). Regenerate:

    go test -run TestBinariesDoc ./internal/bootstrap/ -update-binaries

or watch the figures alone with
` + "`go test -run '^$' -bench Init -benchtime 1x ./internal/bootstrap/`" + `.

What keeps them lean: no protobuf reflection (the duration sketch owns
DDSketch's logarithmic mapping rather than linking sketches-go, whose
protobuf encoding keeps every method of every linked type), no
text/template or html/template (reflection's MethodByName has the same
effect) in any function, JSON Schemas compiled only in tests
(` + "`events/schema`" + `), the API's 75 KB OpenAPI document embedded
gzip-compressed, the Firehose client in ingest alone (the functions that
only read the raw archive link S3's), and each function's wiring in its
own package.

What keeps init short: no regular expression is compiled at package init
(` + "`internal/lazyregexp`" + ` compiles on first use, with length bounds
instead of counted repetitions such as ` + "`{1,200}`" + `, which compile into as
many copies); the API matches its operator routes once, not once per
route; a failure carries its rule's loop policy, so notify reads no rules;
each function builds its AWS configuration from the environment without
the shared-config, SSO and IMDS chains.

What is left over the floor is mostly the AWS SDK's own package
initialisation, shown in the last column (the runtime's
` + "`GODEBUG=inittrace=1`" + `, summed over the aws-sdk-go-v2 and smithy-go
packages, median of as many starts): each service module linked builds
its generated ` + "`schemas`" + ` (schema-based serialisation, since DynamoDB
v1.69.0) and its endpoint tables at package init, whether a client is
used or not. On a machine whose floor is 13 ms that alone nears or exceeds 5 ms
in every function (the column below); on one whose floor was 3.6 ms
(commit b6e06c0) every function was within the floor + 5 ms. The
rules function also parses the rule files' YAML (about 1 ms for the
shipped 12 KB).

`
