package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/ocxhq/ocx/internal/localstack"
)

func runLocal(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("local", flag.ExitOnError)
	_ = fs.Parse(args)
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := localstack.FromEnv(os.Getenv, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := localstack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Stop()
	printBanner(st, cfg)
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping; state kept in", cfg.StateDir, "(make reset wipes it)")
	return nil
}

func printBanner(st *localstack.Stack, cfg localstack.Config) {
	fmt.Printf("\nOCX local stack is up.\n\n")
	fmt.Printf("  API            %s   (bearer token: %s)\n", st.URL, cfg.APIToken)
	fmt.Printf("  health         %s/healthz\n", st.URL)
	fmt.Printf("  AWS emulator   %s\n", st.Moto)
	fmt.Printf("  state          %s\n\n", cfg.StateDir)
	ids := make([]string, 0, len(st.ChannelSecrets))
	for id := range st.ChannelSecrets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Println("  webhooks (sign with):")
	for _, id := range ids {
		sign := st.ChannelSecrets[id].Sign
		if sign == "" {
			sign = "(your own signing key)"
		}
		fmt.Printf("    %-40s %s\n", st.URL+"/v1/webhooks/"+id, sign)
	}
	slack := cfg.SlackURL
	if slack == "" {
		slack = "printed here (set OCX_SLACK_WEBHOOK_URL to post to Slack)"
	}
	fmt.Printf("\n  Slack messages  %s\n", slack)
	fmt.Printf("  Slack actions   %s/v1/slack/actions   (signing secret: %s)\n", st.URL, cfg.SlackSigningSecret)
	fmt.Printf("  rollup every    %s\n\n", cfg.RollupEvery)
	fmt.Printf("Send a signed NPS answer:   go run ./cmd/ocx sign | sh\n\n")
}

func runReset(args []string) error {
	fs := flag.NewFlagSet("reset", flag.ExitOnError)
	_ = fs.Parse(args)
	dir := os.Getenv("OCX_STATE_DIR")
	if dir == "" {
		dir = localstack.DefaultStateDir
	}
	if err := localstack.Reset(dir); err != nil {
		return err
	}
	fmt.Println("local state deleted:", dir)
	return nil
}
