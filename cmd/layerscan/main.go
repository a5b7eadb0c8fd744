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
	"strconv"
	"strings"
	"time"

	"github.com/layerscan/layerscan/shared/apikeys"
	"github.com/layerscan/layerscan/shared/buildcheck"
	"github.com/layerscan/layerscan/shared/builtin"
	"golang.org/x/term"

	"github.com/layerscan/layerscan/shared/format"
	"github.com/layerscan/layerscan/shared/malware"
	"github.com/layerscan/layerscan/shared/netguard"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/redact"
	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/suite"
	"github.com/layerscan/layerscan/shared/updater"
	"github.com/layerscan/layerscan/shared/verdict"
	"github.com/layerscan/layerscan/shared/vex"
	"github.com/layerscan/layerscan/shared/whitelist"
)

const usage = `layerscan scans container images for security risks.

Usage:
  layerscan scan [flags] IMAGE       IMAGE is a registry reference, a docker-save tarball or an OCI layout folder
  layerscan db sync [--store DIR] [--from DIR]
  layerscan serve [--store DIR] [--listen ADDR] [--workers N] [timers]   the whole suite in one process
  layerscan registries list|add|remove [--store DIR] [flags]             registry connections
  layerscan keys create --role ROLE | revoke ID | list [--store DIR]     API keys (admin, operator, viewer, ci)
  layerscan settings get | set FILE|- [--if-match ETAG] [--store DIR]    the scan settings (docs/settings.md)
  layerscan tasks list [--type T] [--status S] | show ID [--store DIR]   scan tasks and their execution logs
  layerscan fix [--overwrite] [--push REF] [--layout DIR] IMAGE          build, verify and push the fixed image (docs/fix.md)
  layerscan clusters list|add|remove [--store DIR] [flags]               Kubernetes cluster connections (docs/runtime.md)
  layerscan scan --cluster ID [--store DIR]                              scan the images a cluster's Pods run
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
	case "registries":
		code, err = cmdRegistries(ctx, args[1:], stdout, stderr)
	case "keys":
		code, err = cmdKeys(ctx, args[1:], stdout, stderr)
	case "settings":
		code, err = cmdSettings(ctx, args[1:], os.Stdin, stdout, stderr)
	case "tasks":
		code, err = cmdTasks(ctx, args[1:], stdout, stderr)
	case "fix":
		code, err = cmdFix(ctx, args[1:], stdout, stderr)
	case "clusters":
		code, err = cmdClusters(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "layerscan", pipeline.Version)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "layerscan: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "layerscan:", err)
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

// scanFlags are the flags of `layerscan scan`.
type scanFlags struct {
	store, format, output, severity string
	exitCode, workers               int
	insecure, all, quiet            bool
	platform, whitelist, dockerfile string
	timeout                         time.Duration
	allowUnchecked                  bool
	policy                          string
	vex                             multi
	listFormats                     bool
	cluster                         string
}

func parseScanFlags(args []string, stdout, stderr io.Writer) (*scanFlags, []string, error) {
	f := &scanFlags{}
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// Asked for, help is the command's output: stdout, exit 0.
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: layerscan scan [flags] IMAGE\n\nIMAGE is a registry reference, a docker-save tarball or an OCI layout folder.\nFormats (--format, any case): %s.\n\nFlags:\n", strings.Join(format.Names, ", "))
		fs.PrintDefaults()
	}
	fs.BoolVar(&f.listFormats, "list-formats", false, "print the output formats, one per line, and exit")
	fs.StringVar(&f.cluster, "cluster", "", "scan the images the Pods in scope of this cluster connection run (layerscan clusters add), as a runtime task")
	fs.StringVar(&f.store, "store", defaultStore(), "object-store folder")
	fs.StringVar(&f.format, "format", "table", "output format: "+strings.Join(format.Names, ", ")+" (any case)")
	fs.StringVar(&f.output, "output", "", "write the report to this file instead of stdout")
	fs.StringVar(&f.severity, "severity", "", "report only findings of this severity or higher (HIGH), or of these severities (HIGH,CRITICAL)")
	fs.IntVar(&f.exitCode, "exit-code", 0, "exit with this code when a reported finding is not whitelisted")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plain-HTTP registries (loopback test registries)")
	fs.StringVar(&f.platform, "platform", "linux/amd64", "platform to pick from an image index")
	fs.BoolVar(&f.all, "all-platforms", false, "scan every platform of an image index")
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "layers analysed at once")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress on stderr")
	fs.StringVar(&f.whitelist, "whitelist", "", "whitelist rules (JSON, see docs/report.md) applied on top of the store's policy/whitelist.json")
	fs.StringVar(&f.dockerfile, "dockerfile", "", "the Dockerfile the image was built from: its final stage is checked instead of the image history")
	fs.BoolVar(&f.allowUnchecked, "allow-unchecked", false, "with --exit-code, pass a report whose vulnerabilities could not be checked (no advisory DB, no data for the release) or that is incomplete, instead of exiting 3")
	fs.Var(&f.vex, "vex", "a VEX document (OpenVEX or CycloneDX VEX) whose not_affected and fixed statements suppress findings; repeatable")
	fs.StringVar(&f.policy, "policy", "", "evaluate a delivery policy (a name from the store's settings, \"default\", or a policy JSON file) and exit 1 when it denies the image (docs/api.md, verdict)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "longest wait for a registry's answer (and for each read of a layer); a registry that never answers fails the scan")
	pos, err := parseInterleaved(fs, args)
	return f, pos, err
}

// request makes the scan request of the flags; errors are usage errors.
func (f *scanFlags) request(image string) (scanrecord.Request, error) {
	src, err := source.Detect(image, f.insecure)
	if err != nil {
		return scanrecord.Request{}, err
	}
	req := scanrecord.Request{Source: src, Platform: f.platform, AllPlatforms: f.all, Trigger: "cli"}
	if f.dockerfile != "" {
		b, err := os.ReadFile(f.dockerfile)
		if err != nil {
			return req, fmt.Errorf("--dockerfile: %w", err)
		}
		if _, err := buildcheck.ParseDockerfile(b); err != nil {
			return req, fmt.Errorf("--dockerfile %s: %w", f.dockerfile, err)
		}
		req.Dockerfile = string(b)
	}
	for _, p := range f.vex {
		b, err := os.ReadFile(p)
		if err != nil {
			return req, fmt.Errorf("--vex: %w", err)
		}
		stmts, err := vex.Parse(b, filepath.Base(p))
		if err != nil {
			return req, fmt.Errorf("--vex: %w", err)
		}
		req.VEX = append(req.VEX, stmts...)
	}
	if f.whitelist != "" {
		b, err := os.ReadFile(f.whitelist)
		if err != nil {
			return req, fmt.Errorf("--whitelist: %w", err)
		}
		l, err := whitelist.Parse(b)
		if err != nil {
			return req, fmt.Errorf("--whitelist %s: %w", f.whitelist, err)
		}
		req.Whitelist = l.Rules
	}
	return req, nil
}

func cmdScan(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	f, pos, err := parseScanFlags(args, stdout, stderr)
	if err != nil {
		return 2, err
	}
	if f.listFormats {
		fmt.Fprintln(stdout, strings.Join(format.Names, "\n"))
		return 0, nil
	}
	if f.cluster != "" {
		if len(pos) != 0 {
			return 2, fmt.Errorf("scan --cluster takes no IMAGE")
		}
		return scanCluster(ctx, f.store, f.cluster, f.workers, stdout, stderr)
	}
	if len(pos) != 1 {
		return 2, fmt.Errorf("scan takes exactly one IMAGE, got %d", len(pos))
	}
	if f.format, err = format.Parse(f.format); err != nil {
		return 2, fmt.Errorf("--format: %w", err)
	}
	filter, err := report.ParseFilter(f.severity)
	if err != nil {
		return 2, fmt.Errorf("--severity: %w", err)
	}
	req, err := f.request(pos[0])
	if err != nil {
		return 2, err
	}
	st, err := store.NewFS(f.store)
	if err != nil {
		return 1, err
	}
	sigs, err := malware.Current(ctx, st)
	if err != nil {
		return 1, err
	}
	t := netguard.DefaultTimeouts
	t.ResponseHeader, t.Read = f.timeout, f.timeout
	d := &pipeline.Steps{Store: st, Analyzers: builtin.SetWith(sigs), Sources: builtin.Sources(), Registry: []source.Option{source.WithTransport(netguard.Bounded(t))}}
	if !f.quiet {
		d.Progress = stderr
	}
	var pol *verdict.Policy
	if f.policy != "" {
		p, err := loadPolicy(ctx, st, f.policy)
		if err != nil {
			return 2, fmt.Errorf("--policy: %w", err)
		}
		pol = &p
	}
	reports, err := d.ScanLocal(ctx, req, f.workers)
	if err != nil {
		return 1, err
	}
	code, err := render(reports, f, filter, stdout, stderr)
	if err != nil || pol == nil {
		return code, err
	}
	// The verdict decides the exit code, as the API's verdict would.
	code = 0
	for _, r := range reports {
		v := verdict.Evaluate(*pol, r)
		fmt.Fprintf(redact.Terminal(stderr), "layerscan: %s: policy %s: %s\n", r.Image.Ref, v.Policy, strings.ToUpper(v.Decision))
		for _, why := range v.Reasons {
			fmt.Fprintf(redact.Terminal(stderr), "  - %s\n", why)
		}
		if v.Decision == verdict.Deny {
			code = 1
		}
	}
	return code, nil
}

// loadPolicy reads --policy: a policy file, or a policy of the store's
// settings by name ("default" is built in).
func loadPolicy(ctx context.Context, st store.Store, arg string) (verdict.Policy, error) {
	if b, err := os.ReadFile(arg); err == nil {
		return verdict.Parse(b)
	}
	s, err := settings.Load(ctx, st)
	if err != nil {
		return verdict.Policy{}, err
	}
	p, ok := verdict.Find(s.Policies, arg)
	if !ok {
		return p, fmt.Errorf("%q is neither a policy file nor a policy of the settings", arg)
	}
	return p, nil
}

// render writes the reports as the flags ask and returns the exit code.
func render(reports []*report.Report, f *scanFlags, filter *report.Filter, stdout, stderr io.Writer) (int, error) {
	out := stdout
	if f.output != "" {
		file, err := os.Create(f.output)
		if err != nil {
			return 1, err
		}
		defer file.Close()
		out = file
	}
	code := 0
	var shown []*report.Report
	for _, r := range reports {
		fr := filter.Apply(r)
		shown = append(shown, fr)
		if f.exitCode != 0 && filter.Failing(fr) > 0 {
			code = f.exitCode
		}
		if !r.Complete {
			fmt.Fprintf(redact.Terminal(stderr), "layerscan: %s: INCOMPLETE scan: %s\n", r.Image.Ref, strings.Join(r.Errors, "; "))
			if code == 0 && !(f.exitCode != 0 && f.allowUnchecked) {
				code = exitIncomplete
			}
		}
		// A gate that passes a report it could not check would pass anything.
		if why := r.Unchecked(); why != "" && f.exitCode != 0 {
			fmt.Fprintf(redact.Terminal(stderr), "layerscan: %s: %s\n", r.Image.Ref, why)
			if code == 0 && !f.allowUnchecked {
				code = exitIncomplete
			}
		}
		if fl := fr.Filtered; fl != nil && fl.HiddenUnknown > 0 && f.exitCode != 0 {
			fmt.Fprintf(stderr, "layerscan: %s: --severity %s left out %d findings of UNKNOWN severity\n", r.Image.Ref, fl.Severity, fl.HiddenUnknown)
		}
	}
	var err error
	switch {
	case f.format == "json" && len(shown) == 1 && !f.all:
		err = report.WriteJSON(out, shown[0])
	case f.format == "json":
		err = writeJSONList(out, shown)
	case f.format != "table":
		// One standard document per image; several platforms, one after another.
		for _, r := range shown {
			if err = format.Write(out, f.format, r); err != nil {
				break
			}
		}
	default:
		for i, r := range shown {
			if i > 0 {
				fmt.Fprintln(out)
			}
			if err = report.WriteTableWidth(out, r, tableWidth()); err != nil {
				break
			}
		}
	}
	if err != nil {
		return 1, err
	}
	return code, nil
}

// tableWidth is the terminal's width: COLUMNS when set, else the size of
// the terminal stdout is, else the table's default (a pipe or a file).
func tableWidth() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil && w > 0 {
		return w
	}
	return report.DefaultWidth
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
	noRematch := fs.Bool("no-rematch", false, "do not re-report the stored images against the new DB")
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
	u := &updater.Updater{Store: st, Progress: stderr}
	if _, err := u.SyncSignatures(ctx, *sigs); err != nil {
		return err
	}
	if _, err = u.SyncAdvisories(ctx, *from); err != nil || *noRematch {
		return err
	}
	// The stored images are re-reported against the new DB, from their
	// facts, as the sync-advisories function does.
	env := suite.NewEnv(suite.Config{Store: "file://" + *storeDir}, st, nil, log.New(stderr, "", 0))
	pool, err := env.UseLocal(ctx, runtime.NumCPU())
	if err != nil {
		return err
	}
	v, err := env.StartRematch(ctx)
	if errs := pool.Wait(); err == nil && len(errs) > 0 {
		err = errors.Join(errs...)
	}
	if err != nil {
		return fmt.Errorf("re-match: %w", err)
	}
	if v.Counts.Total > 0 {
		fmt.Fprintf(stderr, "layerscan: re-matched %d stored image(s) (task %s)\n", v.Counts.Total, v.ID)
	}
	return nil
}

// serveOptions are the flags of `layerscan serve` over the suite's
// configuration from the environment.
type serveOptions struct {
	cfg                          suite.Config
	listen                       string
	periodic, syncEvery, janitor time.Duration
}

func parseServeFlags(args []string, stderr io.Writer) (*serveOptions, error) {
	cfg, err := suite.FromEnv()
	if err != nil {
		return nil, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.NumCPU()
	}
	o := &serveOptions{cfg: cfg}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.cfg.Store, "store", defaultStore(), "object-store folder")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address of the HTTP API and event endpoints")
	fs.IntVar(&o.cfg.Workers, "workers", cfg.Workers, "steps run at once (default LAYERSCAN_WORKERS, else one per CPU)")
	fs.DurationVar(&o.periodic, "periodic-every", time.Hour, "run periodic-scan this often: it starts a scan cycle when the settings make one due and advances open tasks; 0 disables")
	fs.DurationVar(&o.syncEvery, "sync-every", 0, "run sync-advisories this often; 0 disables")
	fs.DurationVar(&o.janitor, "janitor-every", 5*time.Minute, "run janitor this often; 0 disables")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return nil, err
	} else if len(pos) > 0 {
		return nil, fmt.Errorf("serve takes no arguments, got %q", pos)
	}
	return o, nil
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "serve ", log.LstdFlags|log.LUTC)
	st, err := store.NewFS(o.cfg.Store)
	if err != nil {
		return err
	}
	env := suite.NewEnv(o.cfg, st, nil, logger)
	if err := mayListen(ctx, o.listen, env.Keys); err != nil {
		return err
	}
	pool, err := env.UseLocal(ctx, o.cfg.Workers) // the in-process fan-out
	if err != nil {
		return err
	}
	env.RunTimers(ctx, suite.Timers{Periodic: o.periodic, Sync: o.syncEvery, Janitor: o.janitor})
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: env.LocalHandler(), ReadHeaderTimeout: 30 * time.Second}
	logger.Printf("listening on http://%s (store %s)", ln.Addr(), o.cfg.Store)
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

// mayListen refuses to serve beyond loopback while no API key could
// authenticate: every route would answer 401 to everyone, and an operator
// who meant to open the API would find out from the outside.
func mayListen(ctx context.Context, listen string, keys *apikeys.Store) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	if registries.IsLoopback(host) {
		return nil
	}
	ok, err := keys.Configured(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("--listen %s is beyond loopback and no API key exists: create one with 'layerscan keys create --role admin' first", listen)
	}
	return nil
}
