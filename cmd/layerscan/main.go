// Command layerscan scans container images for vulnerabilities and other
// risks on one machine, with a local folder as the object store.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/analyzer/builtin"
	"github.com/layerscan/layerscan/shared/buildcheck"
	"github.com/layerscan/layerscan/shared/malware"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/suite"
	"github.com/layerscan/layerscan/shared/whitelist"
)

const usage = `layerscan scans container images for security risks.

Usage:
  layerscan scan [flags] IMAGE       IMAGE is a registry reference, a docker-save tarball or an OCI layout folder
  layerscan db sync [--store DIR] [--from DIR]
  layerscan serve [--store DIR] [--listen ADDR] [--workers N] [timers]   the whole suite in one process
  layerscan version

Run 'layerscan scan -h' for the scan flags.
`

// exitIncomplete is returned when a report could not cover the whole image.
const exitIncomplete = 3

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	code := 0
	switch args[0] {
	case "scan":
		code, err = cmdScan(ctx, args[1:], stdout, stderr)
	case "db":
		if len(args) < 2 || args[1] != "sync" {
			fmt.Fprint(stderr, usage)
			return 2
		}
		err = cmdSync(ctx, args[2:], stderr)
	case "serve":
		err = cmdServe(ctx, args[1:], stderr)
	case "version":
		fmt.Fprintln(stdout, "layerscan", pipeline.Version)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "layerscan: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "layerscan:", err)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}

// parseInterleaved lets flags follow positional arguments, as users type them.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func defaultStore() string {
	if v := os.Getenv("LAYERSCAN_STORE"); strings.HasPrefix(v, "file://") {
		return strings.TrimPrefix(v, "file://")
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "layerscan", "store")
}

func cmdScan(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeDir := fs.String("store", defaultStore(), "object-store folder")
	format := fs.String("format", "table", "output format: json or table")
	output := fs.String("output", "", "write the report to this file instead of stdout")
	severity := fs.String("severity", "", "report only findings of this severity or higher (HIGH), or of these severities (HIGH,CRITICAL)")
	exitCode := fs.Int("exit-code", 0, "exit with this code when a reported finding is not whitelisted")
	insecure := fs.Bool("insecure", false, "allow plain-HTTP registries (loopback test registries)")
	platform := fs.String("platform", "linux/amd64", "platform to pick from an image index")
	all := fs.Bool("all-platforms", false, "scan every platform of an image index")
	workers := fs.Int("workers", runtime.NumCPU(), "layers analysed at once")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	wlFile := fs.String("whitelist", "", "whitelist rules (JSON, see docs/report.md) applied on top of the store's policy/whitelist.json")
	dockerfile := fs.String("dockerfile", "", "the Dockerfile the image was built from: its final stage is checked instead of the image history")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2, err
	}
	if len(pos) != 1 {
		return 2, fmt.Errorf("scan takes exactly one IMAGE, got %d", len(pos))
	}
	if *format != "json" && *format != "table" {
		return 2, fmt.Errorf("--format must be json or table, not %q", *format)
	}
	filter, err := report.ParseFilter(*severity)
	if err != nil {
		return 2, fmt.Errorf("--severity: %w", err)
	}
	st, err := store.NewFS(*storeDir)
	if err != nil {
		return 1, err
	}
	sigs, err := malware.Current(ctx, st)
	if err != nil {
		return 1, err
	}
	d := &pipeline.Deps{Store: st, Analyzers: builtin.SetWith(sigs)}
	if !*quiet {
		d.Progress = stderr
	}
	req := pipeline.ScanRequest{Source: registry.Detect(pos[0], *insecure), Platform: *platform, AllPlatforms: *all, Trigger: "cli"}
	if *dockerfile != "" {
		b, err := os.ReadFile(*dockerfile)
		if err != nil {
			return 2, fmt.Errorf("--dockerfile: %w", err)
		}
		if _, err := buildcheck.ParseDockerfile(b); err != nil {
			return 2, fmt.Errorf("--dockerfile %s: %w", *dockerfile, err)
		}
		req.Dockerfile = string(b)
	}
	if *wlFile != "" {
		b, err := os.ReadFile(*wlFile)
		if err != nil {
			return 2, fmt.Errorf("--whitelist: %w", err)
		}
		l, err := whitelist.Parse(b)
		if err != nil {
			return 2, fmt.Errorf("--whitelist %s: %w", *wlFile, err)
		}
		req.Whitelist = l.Rules
	}
	reports, err := d.ScanLocal(ctx, req, *workers)
	if err != nil {
		return 1, err
	}
	out := stdout
	if *output != "" {
		f, err := os.Create(*output)
		if err != nil {
			return 1, err
		}
		defer f.Close()
		out = f
	}
	code := 0
	var shown []*report.Report
	for _, r := range reports {
		fr := filter.Apply(r)
		shown = append(shown, fr)
		if *exitCode != 0 && filter.Failing(fr) > 0 {
			code = *exitCode
		}
		if !r.Complete {
			fmt.Fprintf(stderr, "layerscan: %s: INCOMPLETE scan: %s\n", r.Image.Ref, strings.Join(r.Errors, "; "))
			if code == 0 {
				code = exitIncomplete
			}
		}
	}
	if *format == "json" {
		if len(shown) == 1 {
			err = report.WriteJSON(out, shown[0])
		} else {
			err = writeJSONList(out, shown)
		}
	} else {
		for i, r := range shown {
			if i > 0 {
				fmt.Fprintln(out)
			}
			if err = report.WriteTable(out, r); err != nil {
				break
			}
		}
	}
	if err != nil {
		return 1, err
	}
	return code, nil
}

func writeJSONList(w io.Writer, rs []*report.Report) error {
	if _, err := io.WriteString(w, "[\n"); err != nil {
		return err
	}
	for i, r := range rs {
		if i > 0 {
			io.WriteString(w, ",\n")
		}
		if err := report.WriteJSON(w, r); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "]\n")
	return err
}

func cmdSync(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("db sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeDir := fs.String("store", defaultStore(), "object-store folder")
	from := fs.String("from", "", "offline mirror folder in the osv.dev export layout (<Ecosystem>/all.zip) plus Alpine secdb; default: the public feeds")
	sigs := fs.String("signatures", "", "folder of extra malware signatures (.yar/.yara rules, ClamAV .hdb/.hsb hash lists) published with the built-in ones")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("db sync takes no arguments, got %q", pos)
	}
	st, err := store.NewFS(*storeDir)
	if err != nil {
		return err
	}
	d := &pipeline.Deps{Store: st, Progress: stderr}
	if _, err := d.SyncSignatures(ctx, *sigs); err != nil {
		return err
	}
	_, err = d.SyncAdvisories(ctx, *from)
	return err
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeDir := fs.String("store", defaultStore(), "object-store folder")
	listen := fs.String("listen", "127.0.0.1:8080", "address of the HTTP API and event endpoints")
	workers := fs.Int("workers", runtime.NumCPU(), "steps run at once")
	periodic := fs.Duration("periodic-every", 0, "run periodic-scan this often (config/periodic.json in the store); 0 disables")
	syncEvery := fs.Duration("sync-every", 0, "run sync-advisories this often; 0 disables")
	janitor := fs.Duration("janitor-every", 5*time.Minute, "run janitor this often; 0 disables")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", pos)
	}
	cfg, err := suite.FromEnv()
	if err != nil {
		return err
	}
	cfg.Store = *storeDir
	if cfg.Workers == 0 {
		cfg.Workers = *workers
	}
	logger := log.New(stderr, "serve ", log.LstdFlags|log.LUTC)
	st, err := store.NewFS(*storeDir)
	if err != nil {
		return err
	}
	env := suite.NewEnv(cfg, st, nil, logger)
	pool, err := env.UseLocal(ctx, *workers) // the in-process fan-out
	if err != nil {
		return err
	}
	env.RunTimers(ctx, suite.Timers{Periodic: *periodic, Sync: *syncEvery, Janitor: *janitor})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: env.LocalHandler(), ReadHeaderTimeout: 30 * time.Second}
	logger.Printf("listening on http://%s (store %s)", ln.Addr(), *storeDir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		pool.Wait()
		return nil
	}
}
