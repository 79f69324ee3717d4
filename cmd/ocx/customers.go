package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ocxhq/ocx/internal/customer"
)

// runCustomer shows one customer: by id, or by an identity key.
func runCustomer(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("customer", flag.ExitOnError)
	c := apiFlags(fs)
	id := fs.String("id", "", "customer id (cus_…)")
	key := fs.String("key", "", "identity key instead of an id, e.g. email:ann@example.com or phone:+14155550100")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	_ = fs.Parse(args)
	var path string
	switch {
	case *id != "" && *key == "":
		path = "/v1/customers/" + url.PathEscape(*id)
	case *key != "" && *id == "":
		path = "/v1/customers?" + url.Values{"key": {*key}}.Encode()
	default:
		return fmt.Errorf("customer needs --id ID or --key KEY")
	}
	var v customer.View
	if err := c.do(ctx, http.MethodGet, path, &v); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	printCustomer(out, v)
	return nil
}

func printCustomer(out io.Writer, v customer.View) {
	fmt.Fprintf(out, "customer %s", v.ID)
	if v.RequestedID != "" {
		fmt.Fprintf(out, " (%s was merged into it)", v.RequestedID)
	}
	fmt.Fprintf(out, "\nfirst seen %s, %d interactions\n\n", v.FirstSeenAt.Format(time.RFC3339), v.InteractionsTotal)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY\tLINKED\tVIA")
	for _, i := range v.Identities {
		linked := ""
		if i.LinkedAt != nil {
			linked = i.LinkedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", i.Key, linked, i.Via)
	}
	fmt.Fprintln(tw, "\nJOURNEY\tINSTANCE\tSTAGE\tOUTCOME\tSLA DUE")
	for _, j := range v.Journeys {
		due := ""
		if j.SLADueAt != nil {
			due = j.SLADueAt.Format(time.RFC3339)
			if j.SLABreached {
				due += " (breached)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.Journey, j.Instance, j.Stage, j.Outcome, due)
	}
	fmt.Fprintln(tw, "\nMERGE\tABSORBED\tAT\tSTATE\tCAUSE")
	for _, m := range v.Merges {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, m.Absorbed, m.At.Format(time.RFC3339), m.State, m.Cause.EventID)
	}
	fmt.Fprintln(tw, "\nOCCURRED\tCHANNEL\tTYPE\tEVENT")
	for _, it := range v.Interactions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.OccurredAt.Format(time.RFC3339), it.Channel, it.Type, it.ID)
	}
	_ = tw.Flush()
	if len(v.Failures) > 0 {
		fmt.Fprintf(out, "\n%d unresolved failures:\n", len(v.Failures))
		for _, f := range v.Failures {
			fmt.Fprintf(out, "  %s %s (%s)\n", f.ID, f.RuleID, f.Severity)
		}
	}
}

// runErase erases a customer and prints the audit record.
func runErase(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("erase", flag.ExitOnError)
	c := apiFlags(fs)
	id := fs.String("id", "", "customer id to erase, with everything merged into it")
	ref := fs.String("ref", "", "your reference for the request (e.g. a ticket number; no names or addresses)")
	yes := fs.Bool("yes", false, "erase without asking (erasure cannot be undone)")
	_ = fs.Parse(args)
	if *id == "" {
		return fmt.Errorf("erase needs --id ID")
	}
	if !*yes {
		return fmt.Errorf("erasing %s deletes its identities, interactions, journeys, raw payloads and failures for good; add --yes to go ahead", *id)
	}
	path := "/v1/customers/" + url.PathEscape(*id)
	if *ref != "" {
		path += "?" + url.Values{"request_ref": {*ref}}.Encode()
	}
	var res customer.ErasureResponse
	if err := c.do(ctx, http.MethodDelete, path, &res); err != nil {
		return err
	}
	e := res.Erasure
	fmt.Fprintf(out, "erasure %s: %s (customers %s)\n", e.ID, e.State, strings.Join(e.CustomerIDs, ", "))
	fmt.Fprintf(out, "  identity keys %d, interactions %d, journeys %d, merges %d, raw payloads %d, failures %d\n",
		e.Counts.IdentityKeys, e.Counts.Interactions, e.Counts.Journeys, e.Counts.Merges, e.Counts.RawObjects, e.Counts.Failures)
	return nil
}

// runUnmerge undoes the merge of a customer into another.
func runUnmerge(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("unmerge", flag.ExitOnError)
	c := apiFlags(fs)
	id := fs.String("id", "", "the absorbed customer (ABSORBED in `ocx customer`)")
	_ = fs.Parse(args)
	if *id == "" {
		return fmt.Errorf("unmerge needs --id ID")
	}
	var res customer.UnmergeResponse
	if err := c.do(ctx, http.MethodPost, "/v1/customers/"+url.PathEscape(*id)+"/unmerge", &res); err != nil {
		return err
	}
	u := res.Unmerge
	fmt.Fprintf(out, "%s split from %s (merge %s): %d keys, %d interactions and %d journeys went back; the two are kept apart\n",
		u.Absorbed, u.Survivor, u.MergeID, len(u.Keys), u.Interactions, u.Journeys)
	return nil
}
