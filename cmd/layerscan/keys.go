package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/audit"
)

// cmdKeys manages API keys: create (prints the key once), revoke, list.
func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	verb, args, fs, storeDir, err := verbFlags("keys", "create, revoke or list", args, stderr)
	if err != nil {
		return 2, err
	}
	role := fs.String("role", "", "admin, operator, viewer or ci")
	name := fs.String("name", "", "what the key is for")
	var repos multi
	fs.Var(&repos, "repository", "limit the key to this repository (registry/name; path patterns such as registry.example.com/team/*); repeatable")
	pos, st, code, err := parseWithStore(fs, args, storeDir)
	if err != nil {
		return code, err
	}
	keys := &apikeys.Store{Store: st}
	switch verb {
	case "create":
		if len(pos) > 0 {
			return 2, fmt.Errorf("keys create takes flags only, got %q", pos)
		}
		k, plain, err := keys.Create(ctx, apikeys.Role(*role), *name, repos, "cli")
		if err != nil {
			return 2, err
		}
		audit.Record(ctx, st, audit.Entry{Who: "cli", Action: "key.create", Target: k.ID + " " + string(k.Role)})
		fmt.Fprintln(stdout, plain)
		fmt.Fprintf(stderr, "created key %s (%s); it is shown once: store it now\n", k.ID, k.Role)
		return 0, nil
	case "revoke":
		if len(pos) != 1 {
			return 2, fmt.Errorf("keys revoke takes one key ID")
		}
		if err := keys.Revoke(ctx, pos[0]); err != nil {
			return 1, err
		}
		audit.Record(ctx, st, audit.Entry{Who: "cli", Action: "key.revoke", Target: pos[0]})
		return 0, nil
	case "list":
		ks, err := keys.List(ctx)
		if err != nil {
			return 1, err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tNAME\tREPOSITORIES\tCREATED")
		for _, k := range ks {
			r := strings.Join(k.Repositories, ",")
			if r == "" {
				r = "all"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, k.Name, r, k.Created)
		}
		return 0, tw.Flush()
	}
	return 2, fmt.Errorf("keys takes create, revoke or list, not %q", verb)
}
