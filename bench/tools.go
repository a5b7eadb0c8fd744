package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// tool is one scanner invocation.
type tool struct {
	name string
	warm bool // has a cache worth a warm run
	// argv is the command line for an input, program first; state is the
	// tool's cache or store folder (fresh for cold runs), out its output file.
	argv func(in input, state, out string) []string
	// env adds environment variables.
	env func(state string) []string
	// count reads packages, secrets and vulnerabilities from its output.
	count func(out string) (pkgs []string, secrets, vulns int, err error)
	// okExit are exit codes that are not failures (osv-scanner: 1 = found).
	okExit []int
	// seed fills a fresh state folder before a cold run (the advisory DB).
	seed func(state string) error
}

type dbEnv struct {
	layerscanDB string // a store folder holding only the advisory DB
	osvDB       string // <dir>/osv-scalibr/<Ecosystem>/all.zip
}

// prepareDBs publishes the corpus advisories for layerscan, and the same
// OSV records in osv-scanner's offline layout (PyPI's YAML turned into JSON).
func prepareDBs(ctx context.Context, c config, bin string) (dbEnv, error) {
	env := dbEnv{layerscanDB: filepath.Join(c.work, "db", "layerscan"), osvDB: filepath.Join(c.work, "db", "osv")}
	adv := filepath.Join(c.shared, "corpus", "advisories")
	if _, err := os.Stat(filepath.Join(env.layerscanDB, "advisories", "current")); err != nil {
		out, err := exec.CommandContext(ctx, bin, "db", "sync", "--store", env.layerscanDB, "--from", adv).CombinedOutput()
		if err != nil {
			return env, fmt.Errorf("db sync: %v\n%s", err, out)
		}
	}
	zips, _ := filepath.Glob(filepath.Join(adv, "osv", "*", "all.zip"))
	for _, z := range zips {
		eco := filepath.Base(filepath.Dir(z))
		dst := filepath.Join(env.osvDB, "osv-scalibr", eco, "all.zip")
		if err := copyFile(z, dst); err != nil {
			return env, err
		}
	}
	yamls, _ := filepath.Glob(filepath.Join(adv, "osv-yaml", "*", "all.zip"))
	for _, z := range yamls {
		eco := filepath.Base(filepath.Dir(z))
		if err := yamlZipToJSON(z, filepath.Join(env.osvDB, "osv-scalibr", eco, "all.zip")); err != nil {
			return env, err
		}
	}
	return env, nil
}

func copyFile(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	return os.WriteFile(dst, b, 0o644)
}

func yamlZipToJSON(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	zr, err := zip.OpenReader(src)
	if err != nil {
		return err
	}
	defer zr.Close()
	os.MkdirAll(filepath.Dir(dst), 0o755)
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, e := range zr.File {
		if !strings.HasSuffix(e.Name, ".yaml") {
			continue
		}
		rc, err := e.Open()
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		var v any
		if yaml.Unmarshal(b, &v) != nil {
			continue // a draft the peers would not read either
		}
		js, err := json.Marshal(jsonable(v))
		if err != nil {
			continue
		}
		w, _ := zw.Create(strings.ReplaceAll(strings.TrimSuffix(e.Name, ".yaml"), "/", "_") + ".json")
		w.Write(js)
	}
	return zw.Close()
}

// jsonable turns YAML's map[string]any trees (and stray non-string keys)
// into what encoding/json accepts; times become RFC 3339 strings.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i := range x {
			x[i] = jsonable(x[i])
		}
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	return v
}

const trivyFlags = "--skip-db-update --skip-java-db-update --skip-check-update --skip-version-check --disable-telemetry --offline-scan --no-progress -q"

func tools(c config, bin string, env dbEnv) []tool {
	peer := func(p string) string { return filepath.Join(c.peers, p) }
	return []tool{
		{
			name: "layerscan (all scanners)", warm: true,
			seed: func(state string) error { return copyTree(env.layerscanDB, state) },
			argv: func(in input, state, out string) []string {
				return []string{bin, "scan", "--store", state, "--format", "json", "--output", out, "--quiet", in.tar}
			},
			count: countLayerscan,
		},
		{
			name: "trivy (SBOM)", warm: true,
			argv: func(in input, state, out string) []string {
				return append([]string{peer("trivy"), "image", "--input", in.tar, "--cache-dir", state, "--format", "cyclonedx", "-o", out}, strings.Fields(trivyFlags)...)
			},
			count: countCycloneDX,
		},
		{
			name: "trivy (secrets)", warm: true,
			argv: func(in input, state, out string) []string {
				return append([]string{peer("trivy"), "image", "--input", in.tar, "--cache-dir", state, "--scanners", "secret", "--format", "json", "-o", out}, strings.Fields(trivyFlags)...)
			},
			count: countTrivySecrets,
		},
		{
			name: "syft",
			argv: func(in input, state, out string) []string {
				return []string{peer("syft"), "scan", "docker-archive:" + in.tar, "-o", "json=" + out, "-q"}
			},
			env: func(state string) []string {
				return []string{"SYFT_CHECK_FOR_APP_UPDATE=false", "SYFT_CACHE_DIR=" + state}
			},
			count: countSyft,
		},
		{
			// 1: vulnerabilities found; 128: "No package sources found".
			name: "osv-scanner", okExit: []int{1, 128},
			argv: func(in input, state, out string) []string {
				return []string{peer("osv-scanner"), "scan", "image", "--archive", "--offline", "--local-db-path", env.osvDB, "--all-packages", "--format", "json", "--output-file", out, in.tar}
			},
			count: countOSVScanner,
		},
	}
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(t, b, 0o644)
	})
}

// row is one measured tool × input × mode.
type row struct {
	input, tool, mode    string
	wall, cpu            time.Duration
	rssKiB               int64
	pkgs                 []string
	secrets, vulns, runs int
	floor                time.Duration
	err                  string
}

// measure runs a tool runs times; cold runs start from a fresh state folder,
// warm runs reuse the state of one untimed run.
func measure(ctx context.Context, c config, t tool, in input, mode string) (row, error) {
	r := row{input: in.name, tool: t.name, mode: mode}
	base := filepath.Join(c.work, "state", sanitize(t.name), sanitize(in.name))
	os.RemoveAll(base)
	var walls, cpus []time.Duration
	var rss []int64
	out := filepath.Join(c.work, "out", sanitize(t.name), sanitize(in.name)+"."+mode+".json")
	os.MkdirAll(filepath.Dir(out), 0o755)
	warmState := filepath.Join(base, "warm")
	if mode == "warm" {
		if t.seed != nil {
			if err := t.seed(warmState); err != nil {
				return r, err
			}
		}
		if _, _, _, err := runOnce(ctx, c, t, in, warmState, out); err != nil {
			return r, err
		}
	}
	for i := 0; i < c.runs; i++ {
		state := warmState
		if mode == "cold" {
			state = filepath.Join(base, fmt.Sprintf("cold%d", i))
			os.MkdirAll(state, 0o755)
			if t.seed != nil {
				if err := t.seed(state); err != nil {
					return r, err
				}
			}
		}
		wall, cpu, maxrss, err := runOnce(ctx, c, t, in, state, out)
		if err != nil {
			return r, err
		}
		walls, cpus, rss = append(walls, wall), append(cpus, cpu), append(rss, maxrss)
	}
	r.wall, r.cpu, r.rssKiB, r.runs = median(walls), median(cpus), medianInt(rss), len(walls)
	pkgs, secrets, vulns, err := t.count(out)
	r.pkgs, r.secrets, r.vulns = pkgs, secrets, vulns
	os.RemoveAll(base)
	return r, err
}

func runOnce(ctx context.Context, c config, t tool, in input, state, out string) (time.Duration, time.Duration, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	os.Remove(out)
	argv := t.argv(in, state, out)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if t.env != nil {
		cmd.Env = append(os.Environ(), t.env(state)...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if ee, ok := err.(*exec.ExitError); ok {
		for _, code := range t.okExit {
			if ee.ExitCode() == code {
				err = nil
			}
		}
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%v: %s", err, short(stderr.String()))
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	var cpu time.Duration
	var maxrss int64
	if ru != nil {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		maxrss = ru.Maxrss
	}
	return wall, cpu, maxrss, nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(s))
}

// measureFloor times gzip -dc of every layer blob (cat for the
// uncompressed layers of docker-save tarballs), median of runs.
func measureFloor(ctx context.Context, in input, runs int) (time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < runs; i++ {
		start := time.Now()
		for _, l := range in.layers {
			prog := "cat"
			if isGzip(l) {
				prog = "gzip -dc"
			}
			cmd := exec.CommandContext(ctx, "sh", "-c", prog+` < "$0" > /dev/null`, l)
			if out, err := cmd.CombinedOutput(); err != nil {
				return 0, fmt.Errorf("floor %s: %v %s", l, err, out)
			}
		}
		ds = append(ds, time.Since(start))
	}
	return median(ds), nil
}

func isGzip(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var m [2]byte
	_, err = io.ReadFull(f, m[:])
	return err == nil && m[0] == 0x1f && m[1] == 0x8b
}

func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func countLayerscan(p string) ([]string, int, int, error) {
	var r struct {
		Packages []struct{ Name, Version string } `json:"packages"`
		Findings []struct {
			Category string
			ID       string
			Package  *struct{ Name, Version string }
			Path     string
		} `json:"findings"`
	}
	if err := readJSON(p, &r); err != nil {
		return nil, 0, 0, err
	}
	var pkgs []string
	for _, x := range r.Packages {
		pkgs = append(pkgs, x.Name+"@"+x.Version)
	}
	secrets, vulns := 0, 0
	for _, f := range r.Findings {
		switch f.Category {
		case "sensitive-file":
			secrets++
		case "system-vulnerability", "application-vulnerability":
			vulns++
		}
	}
	return pkgs, secrets, vulns, nil
}

func countCycloneDX(p string) ([]string, int, int, error) {
	var b struct {
		Components []struct{ Type, Name, Version string } `json:"components"`
	}
	if err := readJSON(p, &b); err != nil {
		return nil, 0, 0, err
	}
	var pkgs []string
	for _, c := range b.Components {
		if c.Type == "library" || c.Type == "application" && c.Version != "" {
			pkgs = append(pkgs, c.Name+"@"+c.Version)
		}
	}
	return pkgs, 0, 0, nil
}

func countTrivySecrets(p string) ([]string, int, int, error) {
	var r struct {
		Results []struct{ Secrets []any } `json:"Results"`
	}
	if err := readJSON(p, &r); err != nil {
		return nil, 0, 0, err
	}
	n := 0
	for _, x := range r.Results {
		n += len(x.Secrets)
	}
	return nil, n, 0, nil
}

func countSyft(p string) ([]string, int, int, error) {
	var r struct {
		Artifacts []struct{ Name, Version string } `json:"artifacts"`
	}
	if err := readJSON(p, &r); err != nil {
		return nil, 0, 0, err
	}
	var pkgs []string
	for _, a := range r.Artifacts {
		pkgs = append(pkgs, a.Name+"@"+a.Version)
	}
	return pkgs, 0, 0, nil
}

func countOSVScanner(p string) ([]string, int, int, error) {
	if _, err := os.Stat(p); err != nil {
		return nil, 0, 0, nil // exit 128: it found no package source in the image
	}
	var r struct {
		Results []struct {
			Packages []struct {
				Package struct {
					Name, Version string
					OSPackageName string `json:"os_package_name"`
				} `json:"package"`
				Vulnerabilities []struct{ ID string } `json:"vulnerabilities"`
			} `json:"packages"`
		} `json:"results"`
	}
	if err := readJSON(p, &r); err != nil {
		return nil, 0, 0, err
	}
	var pkgs []string
	vulns := 0
	for _, res := range r.Results {
		for _, x := range res.Packages {
			n := x.Package.Name
			if x.Package.OSPackageName != "" {
				n = x.Package.OSPackageName
			}
			pkgs = append(pkgs, n+"@"+x.Package.Version)
			vulns += len(x.Vulnerabilities)
		}
	}
	sort.Strings(pkgs)
	return pkgs, 0, vulns, nil
}
