package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/ocxhq/ocx/infra/config"
	// app also registers every channel kind, which channels.yaml needs.
	"github.com/ocxhq/ocx/internal/app"
	"github.com/ocxhq/ocx/internal/channel"
	"github.com/ocxhq/ocx/internal/dispatch"
	"github.com/ocxhq/ocx/internal/identity"
	"github.com/ocxhq/ocx/internal/journey"
	"github.com/ocxhq/ocx/internal/outbound"
	"github.com/ocxhq/ocx/internal/rules"
	"github.com/ocxhq/ocx/internal/team"
)

// runCheck validates a configuration tree the way the functions load it,
// reporting every problem as file:line.
func runCheck(out io.Writer, args []string) error {
	flags := flag.NewFlagSet("check", flag.ExitOnError)
	dir := flags.String("dir", os.Getenv("OCX_CONFIG_DIR"), "configuration directory (default: the shipped configuration)")
	_ = flags.Parse(args)
	var fsys fs.FS = config.Shipped
	where := "shipped configuration"
	if *dir != "" {
		fsys, where = os.DirFS(*dir), *dir
	}
	chans, err := channel.Load(fsys, "channels.yaml")
	if err != nil {
		return err
	}
	teams, err := team.Load(fsys, "teams.yaml")
	if err != nil {
		return err
	}
	ids := []string{}
	for _, t := range teams.All() {
		ids = append(ids, t.ID)
	}
	rs, err := rules.Load(fsys, "rules", ids)
	if err != nil {
		return err
	}
	if _, err := rules.NewEngine(rs); err != nil {
		return err
	}
	js, err := journey.Load(fsys, app.JourneysDir, ids)
	if err != nil {
		return err
	}
	if _, err := journey.NewCatalog(js); err != nil {
		return err
	}
	routes, err := dispatch.Load(fsys, dispatch.File, ids)
	if err != nil {
		return err
	}
	guard, err := identity.LoadGuardrails(fsys, identity.GuardrailsFile)
	if err != nil {
		return err
	}
	subs, err := outbound.Load(fsys, outbound.File, os.Getenv)
	if err != nil {
		return err
	}
	never, limits := guard.Counts()
	fmt.Fprintf(out, "%s: %d channels, %d teams, %d rules, %d journeys, %d routes, %d inhibit rules, %d never-link values, %d key limits, %d outbound subscriptions: OK\n",
		where, len(chans), len(ids), len(rs), len(js), routes.Count(), len(routes.Inhibit), never, limits, len(subs))
	return nil
}
