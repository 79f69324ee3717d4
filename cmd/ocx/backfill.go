package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ocxhq/ocx/internal/awsclient"
	"github.com/ocxhq/ocx/internal/dynamo/backfillstore"
	"github.com/ocxhq/ocx/internal/dynamo/metricstore"
	"github.com/ocxhq/ocx/internal/localstack"
	"github.com/ocxhq/ocx/internal/metric"
	"github.com/ocxhq/ocx/internal/rollup"
	"github.com/ocxhq/ocx/internal/topology"
)

// runBackfill rebuilds the metric counters of a range from the stored
// interactions and failure records, then rolls them up.
func runBackfill(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("backfill", flag.ExitOnError)
	from := fs.String("from", "", "start of the range: RFC 3339 or a date (UTC midnight); required")
	to := fs.String("to", "", "end of the range, exclusive (default now)")
	inAWS := fs.Bool("aws", false, "use the AWS account in your environment instead of the local stack's emulator")
	endpoint := fs.String("endpoint", "", "the local emulator (default: the running `make run`'s, found in OCX_STATE_DIR)")
	local := localstack.Resources(localstack.Stage).Tables
	tables := map[string]*string{}
	for _, t := range []string{topology.TableMetrics, topology.TableCustomers, topology.TableFailures} {
		tables[t] = fs.String(t+"-table", envOr(topology.TableEnv(t), local[t]), "physical name of the "+t+" table ("+topology.TableEnv(t)+")")
	}
	attrs := fs.String("attributes", envOr(topology.EnvMetricAttributes, metric.DefaultAttributes), "customer attributes kept as dimensions (OCX_METRIC_ATTRIBUTES); must match the functions'")
	_ = fs.Parse(args)

	start, err := parseWhen("from", *from, time.Time{})
	if err != nil {
		return err
	}
	end, err := parseWhen("to", *to, time.Now().UTC())
	if err != nil {
		return err
	}
	if !start.Before(end) {
		return fmt.Errorf("--from %s must be before --to %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	dims, err := metric.Attributes(*attrs)
	if err != nil {
		return err
	}
	ep := *endpoint
	if *inAWS {
		ep = ""
	} else if ep == "" {
		if ep, err = localEmulator(); err != nil {
			return err
		}
	}
	cfg, err := awsclient.Load(ctx, ep)
	if err != nil {
		return err
	}
	client := dynamodb.NewFromConfig(cfg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	metrics := metricstore.NewMetrics(client, *tables[topology.TableMetrics])
	bar := newProgress(os.Stderr)
	b := &rollup.Backfill{
		Source:     backfillstore.NewBackfillSource(client, *tables[topology.TableCustomers], *tables[topology.TableFailures]),
		Store:      metrics,
		Rollup:     &rollup.Service{Store: metrics, Log: log},
		Attributes: dims,
		Progress:   bar.set,
	}
	fmt.Fprintf(out, "rebuilding metrics from %s to %s from %s\n", start.Format(time.RFC3339), end.Format(time.RFC3339), *tables[topology.TableCustomers])
	began := time.Now()
	res, err := b.Run(ctx, start, end)
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "read %d interactions and %d failures in the range; counters: %d rewritten, %d emptied, %d already right; rolled up %d buckets; took %s\n",
		res.Interactions, res.Failures, res.Replaced.Written, res.Replaced.Zeroed, res.Replaced.Unchanged, res.Rollup.Points, time.Since(began).Round(time.Millisecond))
	if res.Replaced.Raced > 0 {
		fmt.Fprintf(out, "%d counters changed while the backfill ran and kept their live values; run it again once traffic for the range has settled\n", res.Replaced.Raced)
	}
	return nil
}

func parseWhen(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		if def.IsZero() {
			return def, fmt.Errorf("--%s is required (RFC 3339 or a date such as 2026-11-01)", name)
		}
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return t, fmt.Errorf("--%s %q: want RFC 3339 or a date such as 2026-11-01", name, v)
	}
	return t, nil
}

// progress draws a one-line progress bar on a terminal, redrawn at most
// ten times a second; elsewhere (a log, CI) it prints a line per phase
// and per tenth done.
type progress struct {
	w        io.Writer
	tty      bool
	mu       sync.Mutex
	phase    string
	started  time.Time
	drawn    time.Time
	lastTick int64
	width    int
}

func newProgress(f *os.File) *progress {
	fi, err := f.Stat()
	return &progress{w: f, tty: err == nil && fi.Mode()&os.ModeCharDevice != 0}
}

func (p *progress) set(phase string, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if phase != p.phase {
		if p.phase != "" && p.tty {
			fmt.Fprintln(p.w)
		}
		p.phase, p.started, p.lastTick, p.drawn = phase, now, -1, time.Time{}
	}
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	if !p.tty {
		if tick := int64(frac * 10); tick != p.lastTick {
			p.lastTick = tick
			fmt.Fprintf(p.w, "%s: %d/%d (%.0f%%)\n", phase, done, total, 100*frac)
		}
		return
	}
	if now.Sub(p.drawn) < 100*time.Millisecond && done < total {
		return
	}
	p.drawn = now
	const width = 30
	filled := int(frac * width)
	line := fmt.Sprintf("%-20s [%s%s] %3.0f%% %d/%d", phase, strings.Repeat("#", filled), strings.Repeat(".", width-filled), 100*frac, done, total)
	if el := now.Sub(p.started); done > 0 && el > time.Second {
		rate := float64(done) / el.Seconds()
		line += fmt.Sprintf("  %.0f/s", rate)
		if done < total {
			line += fmt.Sprintf("  ETA %s", (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second))
		}
	}
	pad := max(p.width-len(line), 0)
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.phase != "" {
		fmt.Fprintln(p.w)
	}
	p.phase = ""
}

// localEmulator is the endpoint of the running local stack's emulator, as
// `make run` wrote it in OCX_STATE_DIR: the stack's own entry to it, so
// what a command publishes reaches the functions.
func localEmulator() (string, error) {
	env, err := localstack.ReadEnvironment(envOr("OCX_STATE_DIR", localstack.DefaultStateDir))
	if err != nil {
		return "", err
	}
	return env.Moto, nil
}
