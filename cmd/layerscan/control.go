package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"text/tabwriter"

	"github.com/layerscan/layerscan/shared/audit"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/suite"
	"github.com/layerscan/layerscan/shared/task"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// cmdSettings reads and writes the settings document.
func cmdSettings(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	verb, args, fs, storeDir, err := verbFlags("settings", "get or set", args, stderr)
	if err != nil {
		return 2, err
	}
	ifMatch := fs.String("if-match", "", `write only over this version (the ETag "vN" that get printed on stderr)`)
	pos, st, code, err := parseWithStore(fs, args, storeDir)
	if err != nil {
		return code, err
	}
	switch verb {
	case "get":
		s, err := settings.Load(ctx, st)
		if err != nil {
			return 1, err
		}
		fmt.Fprintf(stderr, "ETag %s\n", settings.ETag(s.Version))
		return 0, printJSON(stdout, s.Masked())
	case "set":
		if len(pos) != 1 {
			return 2, fmt.Errorf("settings set takes one FILE (or - for standard input)")
		}
		var b []byte
		if pos[0] == "-" {
			b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
		} else {
			b, err = os.ReadFile(pos[0])
		}
		if err != nil {
			return 1, err
		}
		base, err := settings.ParseETag(*ifMatch)
		if err != nil {
			return 2, err
		}
		cfg, err := suite.FromEnv()
		if err != nil {
			return 2, err
		}
		env := suite.NewEnv(cfg, st, nil, log.New(stderr, "", 0))
		pool, err := env.UseLocal(ctx, runtime.NumCPU())
		if err != nil {
			return 1, err
		}
		before, err := env.Policy(ctx)
		if err != nil {
			return 1, err
		}
		s, err := env.PutSettings(ctx, b, base, "cli")
		if err != nil {
			return 1, err
		}
		audit.Record(ctx, st, audit.Entry{Who: "cli", Action: "settings.update", Target: fmt.Sprintf("version %d", s.Version)})
		fmt.Fprintf(stderr, "settings version %d written (ETag %s)\n", s.Version, settings.ETag(s.Version))
		// a changed check selection re-reports the stored images, here
		v, err := env.RereportIfChanged(ctx, before)
		if errs := pool.Wait(); err == nil && len(errs) > 0 {
			err = errors.Join(errs...)
		}
		if err != nil {
			return 1, fmt.Errorf("re-match: %w", err)
		}
		if v != nil && v.Counts.Total > 0 {
			fmt.Fprintf(stderr, "re-matched %d stored image(s) (task %s)\n", v.Counts.Total, v.ID)
		}
		return 0, nil
	}
	return 2, fmt.Errorf("settings takes get or set, not %q", verb)
}

// cmdTasks lists tasks and shows one with its execution log.
func cmdTasks(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	verb, args, fs, storeDir, err := verbFlags("tasks", "list or show", args, stderr)
	if err != nil {
		return 2, err
	}
	typ := fs.String("type", "", "only tasks of this type: scan-now, periodic, push, on-demand")
	status := fs.String("status", "", "only tasks of this status: running, succeeded, partially-failed, failed, timed-out")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, st, code, err := parseWithStore(fs, args, storeDir)
	if err != nil {
		return code, err
	}
	switch verb {
	case "list":
		vs, err := task.List(ctx, st, *typ, *status, 0)
		if err != nil {
			return 1, err
		}
		if *asJSON {
			return 0, printJSON(stdout, vs)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTYPE\tSTATUS\tTOTAL\tSUCCEEDED\tFAILED\tSKIPPED\tCREATED")
		for _, v := range vs {
			c := v.Counts
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", v.ID, v.Type, v.Status, c.Total, c.Succeeded, c.Failed, c.Skipped, v.Created)
		}
		return 0, tw.Flush()
	case "show":
		if len(pos) != 1 {
			return 2, fmt.Errorf("tasks show takes one task ID")
		}
		t, err := task.Load(ctx, st, pos[0])
		if err != nil {
			return 1, err
		}
		v, err := task.Read(ctx, st, t)
		if err != nil {
			return 1, err
		}
		if *asJSON {
			return 0, printJSON(stdout, v)
		}
		fmt.Fprintf(stdout, "task %s (%s, %s): %s, %d of %d finished\n", v.ID, v.Type, v.Trigger, v.Status, v.Counts.Total-v.Counts.Pending-v.Counts.Running, v.Counts.Total)
		for _, e := range v.Errors {
			fmt.Fprintln(stdout, "  error:", e)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "IMAGE\tTAG\tSTATUS\tREASON")
		for _, e := range v.Log {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Image, e.Tag, e.Status, e.Reason)
		}
		return 0, tw.Flush()
	}
	return 2, fmt.Errorf("tasks takes list or show, not %q", verb)
}
