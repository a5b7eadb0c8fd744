package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/layerscan/layerscan/shared/clusters"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/suite"
	"github.com/layerscan/layerscan/shared/task"
)

// cmdClusters manages Kubernetes cluster connections: list, add, remove.
func cmdClusters(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	verb, args, fs, storeDir, err := verbFlags("clusters", "list, add or remove", args, stderr)
	if err != nil {
		return 2, err
	}
	var c clusters.Cluster
	var caFile, tokenEnv, tokenFile string
	var tokenStdin bool
	var namespaces, workloads multi
	switch verb {
	case "list":
	case "add":
		fs.StringVar(&c.ID, "id", "", "cluster ID")
		fs.StringVar(&c.Server, "server", "", "the API server's https URL")
		fs.StringVar(&caFile, "ca-file", "", "PEM of the API server's CA (default: the system's roots)")
		fs.StringVar(&tokenEnv, "token-env", "", "the environment variable the functions read the service-account token from")
		fs.StringVar(&tokenFile, "token-file", "", "the file the functions read the token from")
		fs.BoolVar(&tokenStdin, "token-stdin", false, "read the token from standard input and store it encrypted ("+registries.SecretKeyEnv+")")
		fs.Var(&namespaces, "namespace", "a namespace in scope (repeatable; none: every namespace)")
		fs.Var(&workloads, "workload", "a workload in scope: [NAMESPACE/]KIND/NAME or [NAMESPACE/]selector=LABELS (repeatable; none: every Pod)")
	case "remove":
	default:
		return 2, fmt.Errorf("clusters takes list, add or remove, not %q", verb)
	}
	pos, st, code, err := parseWithStore(fs, args, storeDir)
	if err != nil {
		return code, err
	}
	cs := &clusters.Store{Store: st}
	switch verb {
	case "list":
		l, err := cs.List(ctx)
		if err != nil {
			return 1, err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSERVER\tNAMESPACES\tWORKLOADS")
		for _, c := range l {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", c.ID, c.Server, strings.Join(c.Namespaces, ","), len(c.Workloads))
		}
		return 0, tw.Flush()
	case "remove":
		if len(pos) != 1 {
			return 2, fmt.Errorf("clusters remove takes one ID")
		}
		return 0, cs.Delete(ctx, pos[0])
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return 1, err
		}
		c.CA = string(b)
	}
	switch {
	case tokenEnv != "":
		c.Token = &registries.Secret{Env: tokenEnv}
	case tokenFile != "":
		c.Token = &registries.Secret{File: tokenFile}
	case tokenStdin:
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
		if err != nil {
			return 1, err
		}
		c.Token = &registries.Secret{Value: strings.TrimSpace(string(b))}
	}
	c.Namespaces = namespaces
	for _, w := range workloads {
		wl, err := parseWorkload(w)
		if err != nil {
			return 2, err
		}
		c.Workloads = append(c.Workloads, wl)
	}
	if err := cs.Create(ctx, &c); err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "cluster %s added\n", c.ID)
	return 0, nil
}

// parseWorkload reads [NAMESPACE/]KIND/NAME or [NAMESPACE/]selector=LABELS.
func parseWorkload(s string) (clusters.Workload, error) {
	var w clusters.Workload
	if before, sel, ok := strings.Cut(s, "selector="); ok {
		w.Selector, w.Namespace = sel, strings.TrimSuffix(before, "/")
		return w, nil
	}
	parts := strings.Split(s, "/")
	switch len(parts) {
	case 2:
		w.Kind, w.Name = parts[0], parts[1]
	case 3:
		w.Namespace, w.Kind, w.Name = parts[0], parts[1], parts[2]
	default:
		return w, fmt.Errorf("--workload %q: [NAMESPACE/]KIND/NAME or [NAMESPACE/]selector=LABELS", s)
	}
	return w, nil
}

// scanCluster is `layerscan scan --cluster ID`: the runtime task on this
// machine, on the store's connections, with an in-process pool.
func scanCluster(ctx context.Context, storeDir, id string, workers int, stdout, stderr io.Writer) (int, error) {
	st, err := store.NewFS(storeDir)
	if err != nil {
		return 1, err
	}
	env := suite.NewEnv(suite.Config{Store: "file://" + storeDir}, st, nil, log.New(stderr, "", 0))
	pool, err := env.UseLocal(ctx, workers)
	if err != nil {
		return 1, err
	}
	v, err := env.ScanCluster(ctx, id, "cli")
	if err != nil {
		return 1, err
	}
	pool.Wait()
	t, err := task.Load(ctx, env.Store, v.ID)
	if err == nil {
		v, err = task.Read(ctx, env.Store, t)
	}
	if err != nil {
		return 1, err
	}
	for v.Status == task.Running && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		if v, err = task.Read(ctx, env.Store, t); err != nil {
			return 1, err
		}
	}
	if err := printJSON(stdout, v); err != nil {
		return 1, err
	}
	if v.Status != task.Succeeded {
		return 1, nil
	}
	return 0, nil
}
