// Command bench measures layerscan beside Trivy, Syft and osv-scanner in one
// run on one machine, and beside the physical floor (gzip -dc of the same
// layer blobs). It builds the peers (../shared/bench/build-peers.sh) and
// its inputs into a cache folder outside the repository, runs every tool
// on every input a few times with cold and warm caches, and writes
// bench/results.csv and bench/results.md. `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type config struct {
	shared, work, peers, repo string
	runs                      int
	big                       bool
	timeout                   time.Duration
	only                      string
}

func main() {
	home, _ := os.UserCacheDir()
	var c config
	flag.StringVar(&c.shared, "shared", "../shared", "the shared folder (corpus, peer build script)")
	flag.StringVar(&c.work, "work", filepath.Join(home, "layerscan-bench"), "cache of inputs and tool state (outside the repo)")
	flag.StringVar(&c.peers, "peers", filepath.Join(home, "layerscan-peers", "bin"), "peer binaries; built when missing")
	flag.IntVar(&c.runs, "runs", 3, "runs per tool and input (the median is reported)")
	flag.BoolVar(&c.big, "big", true, "include the debootstrap image, the 100,000-file layer and the 1 GiB layer")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Minute, "bound of one tool run")
	flag.StringVar(&c.only, "only", "", "comma-separated tool name prefixes to run (default: all); peers are then not built")
	flag.Parse()
	var err error
	if c.repo, err = os.Getwd(); err != nil {
		log.Fatal(err)
	}
	for _, p := range []*string{&c.shared, &c.work, &c.peers} {
		if *p, err = filepath.Abs(*p); err != nil {
			log.Fatal(err)
		}
	}
	if err := run(context.Background(), c); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, c config) error {
	if c.only == "" {
		if err := ensurePeers(ctx, c); err != nil {
			return err
		}
	}
	bin, err := buildLayerscan(c)
	if err != nil {
		return err
	}
	inputs, err := prepareInputs(ctx, c)
	if err != nil {
		return err
	}
	env, err := prepareDBs(ctx, c, bin)
	if err != nil {
		return err
	}
	var rows []row
	for _, in := range inputs {
		log.Printf("input %s (%d layers, %d MiB compressed)", in.name, len(in.layers), in.size>>20)
		floor, err := measureFloor(ctx, in, c.runs)
		if err != nil {
			return err
		}
		rows = append(rows, row{input: in.name, tool: "floor: gzip -dc", mode: "-", wall: floor})
		for _, t := range selected(c, bin, env) {
			for _, mode := range []string{"cold", "warm"} {
				if mode == "warm" && !t.warm {
					continue
				}
				r, err := measure(ctx, c, t, in, mode)
				if err != nil {
					log.Printf("%s on %s (%s): %v", t.name, in.name, mode, err)
					r.err = err.Error()
				}
				r.floor = floor
				rows = append(rows, r)
			}
		}
	}
	fleet, err := measureFleet(ctx, c, bin, env)
	if err != nil {
		log.Printf("fleet: %v", err)
	}
	rows = append(rows, fleet...)
	diffs := packageDiffs(rows)
	if err := writeCSV(filepath.Join(c.repo, "bench", "results.csv"), rows); err != nil {
		return err
	}
	return writeMarkdown(filepath.Join(c.repo, "bench", "results.md"), c, rows, diffs)
}

// ensurePeers builds the peers with the script in ../shared when one is
// missing (about 15 minutes cold; bounded).
func ensurePeers(ctx context.Context, c config) error {
	missing := false
	for _, p := range []string{"trivy", "syft", "osv-scanner", "crane"} {
		if _, err := os.Stat(filepath.Join(c.peers, p)); err != nil {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	log.Printf("building the peers into %s (about 15 minutes, once)", c.peers)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(c.shared, "bench", "build-peers.sh"), c.peers)
	cmd.Env = append(os.Environ(), "SKIP_APT=1")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

func buildLayerscan(c config) (string, error) {
	bin := filepath.Join(c.work, "bin", "layerscan")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/layerscan")
	cmd.Dir = c.repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build layerscan: %v\n%s", err, out)
	}
	return bin, nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func medianInt(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// short keeps the last line of a tool's error output, where the reason is.
func short(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// selected are the tools -only names (all by default).
func selected(c config, bin string, env dbEnv) []tool {
	all := tools(c, bin, env)
	if c.only == "" {
		return all
	}
	var out []tool
	for _, t := range all {
		for _, p := range strings.Split(c.only, ",") {
			if p != "" && strings.HasPrefix(t.name, p) {
				out = append(out, t)
				break
			}
		}
	}
	return out
}
