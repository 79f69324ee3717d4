package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/team"
)

const rulesUsage = `usage: ocx rules <check|test> [flags]

  check [--dir DIR]             validate the failure rules (DIR/rules/*.yaml) against DIR/teams.yaml
  test  [--dir DIR] [FILE...]   run rule unit tests: the FILEs given, else DIR/rules/tests/*.yaml

DIR defaults to $OCX_CONFIG_DIR, else the shipped configuration.
`

// runRules is `ocx rules`, the promtool of OCX's failure rules.
func runRules(ctx context.Context, out io.Writer, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, rulesUsage)
		return errors.New("rules: want check or test")
	}
	flags := flag.NewFlagSet("rules "+args[0], flag.ExitOnError)
	flags.Usage = func() { fmt.Fprint(os.Stderr, rulesUsage) }
	dir := flags.String("dir", os.Getenv(config.EnvDir), "configuration directory (default: the shipped configuration)")
	_ = flags.Parse(args[1:])
	tree := config.Shipped()
	if *dir != "" {
		tree = config.Dir(*dir)
	}
	fsys, where := tree.FS(), tree.Where()
	rs, err := loadRules(fsys)
	if err != nil {
		return err
	}
	switch args[0] {
	case "check":
		kinds := map[string]int{}
		for _, r := range rs {
			kinds[r.Kind]++
		}
		var parts []string
		for _, k := range []string{rules.KindMatch, rules.KindCount, rules.KindSequence, rules.KindAbsence, rules.KindStall, rules.KindRate} {
			if kinds[k] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
			}
		}
		fmt.Fprintf(out, "%s: %d rules (%s): OK\n", where, len(rs), strings.Join(parts, ", "))
		return nil
	case "test":
		return testRules(ctx, out, fsys, *dir, flags.Args(), rs)
	default:
		fmt.Fprint(os.Stderr, rulesUsage)
		return fmt.Errorf("rules: unknown subcommand %q", args[0])
	}
}

func loadRules(fsys fs.FS) ([]rules.Rule, error) {
	teams, err := team.Load(fsys, config.Teams)
	if err != nil {
		return nil, err
	}
	return rules.Load(fsys, config.Rules, teams.IDs())
}

// testRules runs the unit tests and prints one line per file and one per
// problem of a failed test, the way promtool does.
func testRules(ctx context.Context, out io.Writer, fsys fs.FS, dir string, files []string, rs []rules.Rule) error {
	type source struct {
		fsys       fs.FS
		name, show string
	}
	var sources []source
	if len(files) > 0 {
		// Files named on the command line are read from where they are.
		for _, f := range files {
			abs, err := filepath.Abs(f)
			if err != nil {
				return fmt.Errorf("rule test file %s: %w", f, err)
			}
			sources = append(sources, source{os.DirFS(filepath.Dir(abs)), filepath.Base(abs), f})
		}
	} else {
		names, err := rules.TestFiles(fsys, "rules/tests")
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return fmt.Errorf("no rule tests in %s", filepath.Join(dir, "rules/tests"))
		}
		for _, n := range names {
			sources = append(sources, source{fsys, n, filepath.Join(dir, n)})
		}
	}
	failed, total := 0, 0
	for _, src := range sources {
		results, err := rules.RunTestFiles(ctx, src.fsys, []string{src.name}, rs)
		if err != nil {
			return err
		}
		bad := 0
		for _, r := range results {
			if !r.Passed() {
				bad++
			}
		}
		total += len(results)
		failed += bad
		if bad == 0 {
			fmt.Fprintf(out, "%s: %d tests: SUCCESS\n", src.show, len(results))
			continue
		}
		fmt.Fprintf(out, "%s: %d of %d tests FAILED\n", src.show, bad, len(results))
		for _, r := range results {
			for _, p := range r.Problems {
				fmt.Fprintf(out, "  %s:%d: %s: %s\n", src.show, r.Line, r.Name, p)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d rule tests failed", failed, total)
	}
	return nil
}
