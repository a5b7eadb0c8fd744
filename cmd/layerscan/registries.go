package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/store"
)

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// verbFlags starts a command of verbs (layerscan registries list, …): the
// verb, the arguments after it, and the verb's flag set with --store.
func verbFlags(command, verbs string, args []string, stderr io.Writer) (verb string, rest []string, fs *flag.FlagSet, storeDir *string, err error) {
	if len(args) == 0 {
		return "", nil, nil, nil, fmt.Errorf("%s takes %s", command, verbs)
	}
	fs = flag.NewFlagSet(command+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	return args[0], args[1:], fs, fs.String("store", defaultStore(), "object-store folder"), nil
}

// cmdRegistries manages registry connections: list, add, remove.
func cmdRegistries(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	verb, args, fs, storeDir, err := verbFlags("registries", "list, add or remove", args, stderr)
	if err != nil {
		return 2, err
	}
	var c registries.Connection
	var hosts, extra, labels multi
	var kind, secretEnv, secretFile string
	var secretStdin, asJSON bool
	switch verb {
	case "list":
		fs.BoolVar(&asJSON, "json", false, "print the connections as JSON")
	case "add":
		fs.StringVar(&c.ID, "id", "", "connection ID")
		fs.StringVar(&kind, "kind", "generic", "acr-ee, harbor, quay, gitlab, ecr or generic")
		fs.Var(&hosts, "host", "registry host[:port] (repeatable: an ACR EE instance has a public and a VPC endpoint)")
		fs.Var(&extra, "extra-host", "another host its redirects or token realm name (repeatable; *.domain for subdomains)")
		fs.StringVar(&c.Auth.Method, "auth", "", "none, basic or cloud (default: basic with --username, else none)")
		fs.StringVar(&c.Auth.Username, "username", "", "user, robot account, token name, or the AccessKey ID of a cloud login")
		fs.StringVar(&secretEnv, "secret-env", "", "the environment variable the functions read the secret from")
		fs.StringVar(&secretFile, "secret-file", "", "the file the functions read the secret from")
		fs.BoolVar(&secretStdin, "secret-stdin", false, "read the secret from standard input and store it encrypted ("+registries.SecretKeyEnv+")")
		fs.BoolVar(&c.Insecure, "insecure", false, "plain HTTP (loopback hosts only)")
		fs.IntVar(&c.ImagesPerHour, "images-per-hour", 0, "throttle; 0 is the kind's default (Harbor 10), -1 none")
		fs.Var(&labels, "label", "key=value (repeatable)")
		fs.StringVar(&c.Region, "region", "", "region of an ACR EE instance or ECR registry")
		fs.StringVar(&c.InstanceID, "instance-id", "", "ACR EE instance ID (cri-…)")
		fs.StringVar(&c.Account, "account", "", "ECR registry ID (AWS account)")
		fs.StringVar(&c.API, "api", "", "the kind's API endpoint, when not the default")
	case "remove":
	default:
		return 2, fmt.Errorf("registries takes list, add or remove, not %q", verb)
	}
	pos, st, code, err := parseWithStore(fs, args, storeDir)
	if err != nil {
		return code, err
	}
	regs := &registries.Store{Store: st}
	switch verb {
	case "list":
		return listRegistries(ctx, regs, asJSON, stdout)
	case "remove":
		if len(pos) != 1 {
			return 2, fmt.Errorf("registries remove takes one ID")
		}
		return 0, regs.Delete(ctx, pos[0])
	}
	if len(pos) > 0 {
		return 2, fmt.Errorf("registries add takes flags only, got %q", pos)
	}
	c.Kind, c.Hosts, c.ExtraHosts = registries.Kind(kind), hosts, extra
	if c.Auth.Method == "" {
		c.Auth.Method = registries.AuthNone
		if c.Auth.Username != "" {
			c.Auth.Method = registries.AuthBasic
		}
	}
	switch {
	case secretEnv != "":
		c.Auth.Secret = &registries.Secret{Env: secretEnv}
	case secretFile != "":
		c.Auth.Secret = &registries.Secret{File: secretFile}
	case secretStdin:
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
		if err != nil {
			return 1, err
		}
		c.Auth.Secret = &registries.Secret{Value: strings.TrimSpace(string(b))}
	}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return 2, fmt.Errorf("--label %q: want key=value", l)
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[k] = v
	}
	if err := regs.Create(ctx, &c); err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "added %s (%s: %s)\n", c.ID, c.Kind, strings.Join(c.Hosts, ", "))
	return 0, nil
}

func listRegistries(ctx context.Context, regs *registries.Store, asJSON bool, stdout io.Writer) (int, error) {
	cs, err := regs.List(ctx)
	if err != nil {
		return 1, err
	}
	if asJSON {
		masked := make([]registries.Connection, 0, len(cs))
		for _, c := range cs {
			masked = append(masked, c.Masked())
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return 0, enc.Encode(map[string]any{"registries": masked})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tHOSTS\tAUTH\tSECRET FROM\tIMAGES/HOUR")
	for _, c := range cs {
		from := "-"
		if s := c.Masked().Auth.Secret; s != nil {
			switch {
			case s.Env != "":
				from = "env " + s.Env
			case s.File != "":
				from = "file " + s.File
			default:
				from = "encrypted"
			}
		}
		per := fmt.Sprint(c.Throttle())
		if c.Throttle() < 0 {
			per = "unlimited"
		}
		hosts := strings.Join(c.Hosts, ",")
		if hosts == "" {
			hosts = "(not configured)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Kind, hosts, c.Auth.Method, from, per)
	}
	return 0, tw.Flush()
}

// parseWithStore parses a verb's flags and opens its --store folder; the
// code is 2 for a usage error, 1 for a store that cannot be opened.
func parseWithStore(fs *flag.FlagSet, args []string, storeDir *string) ([]string, *store.FS, int, error) {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, nil, 2, err
	}
	st, err := store.NewFS(*storeDir)
	if err != nil {
		return nil, nil, 1, err
	}
	return pos, st, 0, nil
}
