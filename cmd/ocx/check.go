package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	_ "github.com/ocxhq/ocx/internal/channel/kinds" // every channel kind channels.yaml may name
	"github.com/ocxhq/ocx/internal/config"
	"github.com/ocxhq/ocx/internal/config/load"
)

// runCheck validates a configuration tree the way the functions load it,
// reporting every problem as file:line.
func runCheck(out io.Writer, args []string) error {
	flags := flag.NewFlagSet("check", flag.ExitOnError)
	dir := flags.String("dir", os.Getenv(config.EnvDir), "configuration directory (default: the shipped configuration)")
	_ = flags.Parse(args)
	tree := config.Shipped()
	if *dir != "" {
		tree = config.Dir(*dir)
	}
	c, err := load.All(tree, os.Getenv)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, c.Summary())
	return nil
}
