package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/layerscan/layerscan/bench/gen"
)

// measureFleet scans 20 images sharing the corpus Debian image's layers and
// differing in one small top layer, one after another, with each tool's
// cache kept across the fleet (layerscan: one store; Trivy: one cache).
func measureFleet(ctx context.Context, c config, bin string, env dbEnv) ([]row, error) {
	base, err := withBlobs("debian-bookworm-app", filepath.Join(c.work, "inputs", "debian-bookworm-app.tar"), filepath.Join(c.work, "inputs", "blobs"))
	if err != nil {
		return nil, err
	}
	var blobs []gen.Blob
	ids, err := diffIDs(base)
	if err != nil {
		return nil, err
	}
	for i, l := range base.layers {
		blobs = append(blobs, gen.Blob{Path: l, Digest: "sha256:" + blobDigest(l), DiffID: ids[i]})
	}
	var fleet []input
	for i := 0; i < 20; i++ {
		dst := filepath.Join(c.work, "inputs", "fleet", fmt.Sprintf("app-%02d.tar", i))
		if _, err := os.Stat(dst); err != nil {
			w, err := gen.NewWriter(filepath.Join(c.work, "inputs", "fleet", fmt.Sprintf("top-%02d.tar.gz", i)))
			if err != nil {
				return nil, err
			}
			w.File("srv/app/VERSION", 0o644, []byte(fmt.Sprintf("app %d\n", i)))
			w.File("srv/app/package-lock.json", 0o644, []byte(`{"lockfileVersion":3,"packages":{"":{"name":"app"},"node_modules/lodash":{"version":"4.17.`+fmt.Sprint(10+i)+`"}}}`))
			top, err := w.Close()
			if err != nil {
				return nil, err
			}
			all := append(append([]gen.Blob(nil), blobs...), top)
			var dids []string
			for _, b := range all {
				dids = append(dids, `"`+b.DiffID+`"`)
			}
			cfg := `{"architecture":"amd64","os":"linux","config":{"User":"app"},"rootfs":{"type":"layers","diff_ids":[` + strings.Join(dids, ",") + `]}}`
			if err := gen.DockerSave(dst, fmt.Sprintf("bench.local/fleet/app-%02d:1", i), all, cfg); err != nil {
				return nil, err
			}
		}
		fleet = append(fleet, input{name: fmt.Sprintf("app-%02d", i), tar: dst})
	}
	var rows []row
	for _, t := range selected(c, bin, env) {
		state := filepath.Join(c.work, "state", "fleet", sanitize(t.name))
		os.RemoveAll(state)
		os.MkdirAll(state, 0o755)
		if t.seed != nil {
			if err := t.seed(state); err != nil {
				return rows, err
			}
		}
		out := filepath.Join(c.work, "out", "fleet.json")
		r := row{input: "fleet of 20 (shared base)", tool: t.name, mode: "cache kept", runs: 1}
		for _, in := range fleet {
			wall, cpu, rss, err := runOnce(ctx, c, t, in, state, out)
			if err != nil {
				r.err = err.Error()
				break
			}
			r.wall += wall
			r.cpu += cpu
			if rss > r.rssKiB {
				r.rssKiB = rss
			}
		}
		log.Printf("fleet %s: %s", t.name, r.wall.Round(time.Millisecond))
		rows = append(rows, r)
		os.RemoveAll(state)
	}
	return rows, nil
}

// packageDiffs lists, per image, the package names layerscan reports and a
// peer does not, and the reverse (cold runs).
func packageDiffs(rows []row) map[string]map[string][2][]string {
	by := map[string]map[string][]string{}
	for _, r := range rows {
		if r.mode != "cold" || r.pkgs == nil {
			continue
		}
		if by[r.input] == nil {
			by[r.input] = map[string][]string{}
		}
		by[r.input][r.tool] = r.pkgs
	}
	out := map[string]map[string][2][]string{}
	for input, tools := range by {
		ours := names(tools["layerscan (all scanners)"])
		for tool, pkgs := range tools {
			if strings.HasPrefix(tool, "layerscan") {
				continue
			}
			theirs := names(pkgs)
			var onlyOurs, onlyTheirs []string
			for n := range ours {
				if !theirs[n] {
					onlyOurs = append(onlyOurs, n)
				}
			}
			for n := range theirs {
				if !ours[n] {
					onlyTheirs = append(onlyTheirs, n)
				}
			}
			sort.Strings(onlyOurs)
			sort.Strings(onlyTheirs)
			if out[input] == nil {
				out[input] = map[string][2][]string{}
			}
			out[input][tool] = [2][]string{onlyOurs, onlyTheirs}
		}
	}
	return out
}

// names keeps package names (versions differ in spelling between tools:
// epochs, "v" prefixes).
func names(pkgs []string) map[string]bool {
	m := map[string]bool{}
	for _, p := range pkgs {
		n := p
		if i := strings.LastIndex(p, "@"); i > 0 {
			n = p[:i]
		}
		m[n] = true
	}
	return m
}

func writeCSV(p string, rows []row) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	w.Write([]string{"input", "tool", "mode", "runs", "wall_s", "cpu_s", "peak_rss_mib", "packages", "secrets", "vulnerabilities", "floor_s", "error"})
	for _, r := range rows {
		w.Write([]string{r.input, r.tool, r.mode, fmt.Sprint(r.runs), secs(r.wall), secs(r.cpu), fmt.Sprintf("%.0f", float64(r.rssKiB)/1024),
			fmt.Sprint(len(r.pkgs)), fmt.Sprint(r.secrets), fmt.Sprint(r.vulns), secs(r.floor), r.err})
	}
	w.Flush()
	return w.Error()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func ratio(a, b time.Duration) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a.Seconds()/b.Seconds())
}

func writeMarkdown(p string, c config, rows []row, diffs map[string]map[string][2][]string) error {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# Benchmark results\n\nGenerated by `make bench` (bench/main.go) on %s, %s, %d cores, %s. Median of %d runs per cell; cold runs start from an empty cache (layerscan: a store holding only the advisory DB), warm runs reuse the cache of one untimed run. Peers: Trivy v0.69.0, Syft v1.57.0, osv-scanner v2.5.0, built by `../shared/bench/build-peers.sh`; they run offline (see `../shared/docs/peers-offline.md`). Trivy has no vulnerability DB here: it runs its database-free scanners, SBOM and secrets, separately.\n\n",
		time.Now().UTC().Format("2006-01-02"), host, runtime.NumCPU(), runtime.Version(), c.runs)
	b.WriteString("| input | tool | mode | wall s | ÷ floor | ÷ layerscan | CPU s | peak RSS MiB | packages | secrets | vulns |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	ours := map[string]time.Duration{}
	for _, r := range rows {
		if strings.HasPrefix(r.tool, "layerscan") {
			ours[r.input+"|"+r.mode] = r.wall
		}
	}
	for _, r := range rows {
		if r.err != "" {
			fmt.Fprintf(&b, "| %s | %s | %s | failed: %s |||||||\n", r.input, r.tool, r.mode, strings.ReplaceAll(short(r.err), "|", "/"))
			continue
		}
		vs := "–"
		if !strings.HasPrefix(r.tool, "layerscan") && !strings.HasPrefix(r.tool, "floor") {
			vs = ratio(r.wall, ours[r.input+"|"+r.mode])
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %.0f | %d | %d | %d |\n", r.input, r.tool, r.mode, secs(r.wall), ratio(r.wall, r.floor), vs, secs(r.cpu), float64(r.rssKiB)/1024, len(r.pkgs), r.secrets, r.vulns)
	}
	b.WriteString("\n## Package-set differences (cold runs, by name)\n\n")
	inputs := make([]string, 0, len(diffs))
	for in := range diffs {
		inputs = append(inputs, in)
	}
	sort.Strings(inputs)
	for _, in := range inputs {
		tools := make([]string, 0, len(diffs[in]))
		for t := range diffs[in] {
			tools = append(tools, t)
		}
		sort.Strings(tools)
		for _, t := range tools {
			d := diffs[in][t]
			if len(d[0]) == 0 && len(d[1]) == 0 {
				fmt.Fprintf(&b, "- **%s**, %s: same package names.\n", in, t)
				continue
			}
			fmt.Fprintf(&b, "- **%s**, %s: only layerscan (%d): %s; only %s (%d): %s\n", in, t, len(d[0]), list(d[0]), t, len(d[1]), list(d[1]))
		}
	}
	return os.WriteFile(p, []byte(b.String()), 0o644)
}

func list(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	if len(xs) > 25 {
		return "`" + strings.Join(xs[:25], "`, `") + fmt.Sprintf("` and %d more", len(xs)-25)
	}
	return "`" + strings.Join(xs, "`, `") + "`"
}
