package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/layerscan/layerscan/shared/builtin"
	"github.com/layerscan/layerscan/shared/fix"
	"github.com/layerscan/layerscan/shared/malware"
	"github.com/layerscan/layerscan/shared/netguard"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/redact"
	"github.com/layerscan/layerscan/shared/registry"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/settings"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/suite"
)

// cmdFix is `layerscan fix IMAGE [--overwrite] [--push REF]`: scan the
// image, build its fixed image from the distribution's signed archive,
// verify it by a rescan, and push it (to IMAGE's tag + "_fixd", the tag
// itself with --overwrite, or --push REF) or write it to --layout DIR.
// The fix log (the task log's per-image entry) is printed as JSON.
func cmdFix(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("fix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	st := fs.String("store", defaultStore(), "object-store folder (its advisory DB, and its settings' fix mirrors)")
	overwrite := fs.Bool("overwrite", false, "push the fixed image under IMAGE's own tag instead of <tag>_fixd")
	pushRef := fs.String("push", "", "push the fixed image to this reference")
	layoutDir := fs.String("layout", "", "write the fixed image to this OCI layout folder instead of pushing it")
	insecure := fs.Bool("insecure", false, "allow plain-HTTP registries (loopback test registries)")
	unverified := fs.Bool("push-unverified", false, "push even when the rescan does not confirm the fix")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	var findings multi
	fs.Var(&findings, "finding", "a finding ID to fix (repeatable); default: every system vulnerability with a fixed version")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: layerscan fix [flags] IMAGE\n\nBuilds the fixed image of IMAGE without a container runtime (Debian and Ubuntu; other\ndistributions get the commands to run), verifies it by a rescan and pushes it.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2, err
	}
	if len(pos) != 1 {
		return 2, fmt.Errorf("fix takes exactly one IMAGE, got %d", len(pos))
	}
	src, err := source.Detect(pos[0], *insecure)
	if err != nil {
		return 2, err
	}
	target := *pushRef
	if target == "" && *layoutDir == "" {
		r, err := name.NewTag(pos[0], nameOpts(*insecure)...)
		if err != nil || src.Kind != source.KindRegistry {
			return 2, fmt.Errorf("IMAGE is not a registry tag: give --push REF or --layout DIR")
		}
		target = r.String()
		if !*overwrite {
			target += suite.FixSuffix
		}
	}
	s, err := store.NewFS(*st)
	if err != nil {
		return 1, err
	}
	sigs, err := malware.Current(ctx, s)
	if err != nil {
		return 1, err
	}
	cfg, err := settings.Load(ctx, s)
	if err != nil {
		return 1, err
	}
	d := &pipeline.Steps{Store: s, Analyzers: builtin.SetWith(sigs), Sources: builtin.Sources(), Registry: []source.Option{source.WithTransport(netguard.Bounded(netguard.DefaultTimeouts))}}
	if !*quiet {
		d.Progress = stderr
	}
	reps, err := d.ScanLocal(ctx, scanrecord.Request{Source: src, Trigger: "cli fix"}, runtime.NumCPU())
	if err != nil {
		return 1, err
	}
	if len(reps) != 1 {
		return 1, fmt.Errorf("%s is %d images: fix one platform's image by its digest", pos[0], len(reps))
	}
	opts := source.Apply(d.Registry...)
	opts.Platform = reps[0].Image.Platform
	a, err := d.Sources.Open(ctx, src, opts)
	if err != nil {
		return 1, err
	}
	sel, err := source.Select(a, opts)
	if err != nil {
		return 1, err
	}
	tmp, err := os.MkdirTemp("", "layerscan-fix-*")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(tmp)
	fx := &fix.Fixer{Mirrors: cfg.Fix.Mirrors, HTTP: &http.Client{Transport: netguard.Bounded(netguard.DefaultTimeouts), Timeout: 30 * time.Minute}, TempDir: tmp}
	lg := &suite.FixLog{Image: pos[0]}
	res, vs, err := suite.FixVerified(ctx, d, fx, sel[0].Image, reps[0], fix.Request{Findings: findings, Note: "layerscan fix"}, tmp, lg)
	if err != nil {
		return 1, err
	}
	defer res.Close()
	code := 0
	switch {
	case res.Image == nil:
		code = 1
		if res.Fixable == fix.FixCommands {
			fmt.Fprintln(stderr, "layerscan: fix images are not supported for this distribution: apply these commands:")
			for _, c := range res.Commands {
				fmt.Fprintln(stderr, "  "+c)
			}
		}
	case !lg.Verification.OK && !*unverified:
		code = 1
		fmt.Fprintf(stderr, "layerscan: verification failed, nothing pushed: %s\n", strings.Join(lg.Verification.Problems, "; "))
	case *layoutDir != "":
		p, err := layout.Write(*layoutDir, empty.Index)
		if err == nil {
			err = p.AppendImage(res.Image)
		}
		if err != nil {
			return 1, err
		}
		dg, _ := res.Image.Digest()
		lg.Pushed, lg.PushedDigest = *layoutDir, dg.String()
	default:
		lg.PushedDigest, err = registry.Push(ctx, target, *insecure, res.Image, opts)
		if err != nil {
			return 1, err
		}
		lg.Pushed = target
		if _, err := vs.ScanLocal(ctx, scanrecord.Request{Source: source.Ref{Kind: source.KindRegistry, Location: target, Insecure: *insecure}, Trigger: "cli fix"}, runtime.NumCPU()); err != nil {
			fmt.Fprintf(stderr, "layerscan: the pushed image's report: %v\n", err)
		}
	}
	if lg.Pushed != "" {
		fmt.Fprintf(redact.Terminal(stderr), "layerscan: fixed image %s (%s): %d finding(s) gone, %d remaining\n", lg.Pushed, lg.PushedDigest, len(lg.Verification.Gone), len(lg.Verification.Remaining))
	}
	return code, printJSON(stdout, lg)
}

func nameOpts(insecure bool) []name.Option {
	if insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}
