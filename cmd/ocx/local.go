package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
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
	token := cfg.APIToken
	if token != localstack.DefaultAPIToken {
		token = mask(token, "OCX_API_TOKEN")
	}
	fmt.Printf("  API            %s   (bearer token: %s)\n", st.URL, token)
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
		switch {
		case cfg.Secrets[id] != "":
			// Operator-supplied secrets are never printed whole.
			sign = mask(cfg.Secrets[id], "OCX_SECRET_"+strings.ToUpper(strings.ReplaceAll(id, "-", "_")))
		case sign == "":
			sign = "(your own signing key)"
		}
		fmt.Printf("    %-40s %s\n", st.URL+"/v1/webhooks/"+id, sign)
	}
	slack := "printed here (set OCX_SLACK_WEBHOOK_URL to post to Slack)"
	if cfg.SlackURL != "" {
		slack = mask(cfg.SlackURL, "OCX_SLACK_WEBHOOK_URL")
	}
	signing := cfg.SlackSigningSecret
	if signing != localstack.DefaultSlackSigningSecret {
		signing = mask(signing, "OCX_SLACK_SIGNING_SECRET")
	}
	fmt.Printf("\n  Slack messages  %s\n", slack)
	fmt.Printf("  Slack actions   %s/v1/slack/actions   (signing secret: %s)\n", st.URL, signing)
	fmt.Printf("  rollup every    %s\n\n", cfg.RollupEvery)
	fmt.Printf("Send a signed NPS answer:   go run ./cmd/ocx sign | sh\n\n")
}

// mask shows enough of an operator's secret to recognise it, never the
// secret itself.
func mask(secret, from string) string {
	shown := secret
	if len(shown) > 6 {
		shown = shown[:6]
	} else {
		shown = ""
	}
	return shown + "… (from " + from + ")"
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
