// End-to-end tests over the real corpus in ../shared: every image is scanned
// through the same pipeline the CLI runs, and checked against the ground
// truth (ground-truth/*.tsv and the tables of EXPECTED.md).
package test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/layerscan/layerscan/shared/builtin"
	"github.com/layerscan/layerscan/shared/pipeline"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/scanrecord"
	"github.com/layerscan/layerscan/shared/source"
	"github.com/layerscan/layerscan/shared/store"
	"github.com/layerscan/layerscan/shared/updater"
)

// sharedDir finds ../shared (LAYERSCAN_SHARED overrides).
func sharedDir(t testing.TB) string {
	if d := os.Getenv("LAYERSCAN_SHARED"); d != "" {
		return d
	}
	d, _ := filepath.Abs("../../shared")
	if _, err := os.Stat(filepath.Join(d, "corpus")); err != nil {
		t.Fatalf("corpus not found at %s (set LAYERSCAN_SHARED): %v", d, err)
	}
	return d
}

var (
	dbOnce  sync.Once
	dbStore string
	dbErr   error
)

// advisoryStore returns a store folder holding the corpus advisory DB; each
// test copies nothing, it opens the same folder read-mostly plus its own scans.
func advisoryStore(t testing.TB) string {
	dbOnce.Do(func() {
		dir, err := os.MkdirTemp("", "layerscan-db-")
		if err != nil {
			dbErr = err
			return
		}
		st, err := store.NewFS(dir)
		if err != nil {
			dbErr = err
			return
		}
		u := &updater.Updater{Store: st}
		_, dbErr = u.SyncAdvisories(context.Background(), filepath.Join(sharedDir(t), "corpus", "advisories"))
		dbStore = dir
	})
	if dbErr != nil {
		t.Fatal(dbErr)
	}
	return dbStore
}

func scanImage(t testing.TB, storeDir string, src source.Ref, opts ...source.Option) *report.Report {
	t.Helper()
	st, err := store.NewFS(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	d := &pipeline.Steps{Store: st, Analyzers: builtin.Set(), Sources: builtin.Sources(), Registry: opts}
	rs, err := d.ScanLocal(context.Background(), scanrecord.Request{Source: src}, 2)
	if err != nil {
		t.Fatalf("scan %s: %v", src.Location, err)
	}
	if len(rs) != 1 {
		t.Fatalf("want one report, got %d", len(rs))
	}
	return rs[0]
}

// groundTruth reads ground-truth/<name>.tsv as "name version" strings; rpm
// rows drop the 0: epoch, as rpm -qa prints it.
func groundTruth(t testing.TB, file string) []string {
	f, err := os.Open(filepath.Join(sharedDir(t), "corpus", "images", "ground-truth", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 2 {
			continue
		}
		out = append(out, cols[0]+" "+strings.TrimPrefix(cols[1], "0:"))
	}
	sort.Strings(out)
	return out
}

func packageSet(r *report.Report) []string {
	var out []string
	for _, p := range r.Packages {
		if p.Type == "deb" || p.Type == "apk" || p.Type == "rpm" {
			out = append(out, p.Name+" "+p.Version)
		}
	}
	sort.Strings(out)
	return out
}

// expectedPairs reads the "(binary package, advisory)" tables of one
// EXPECTED.md section: rows whose fourth column starts with idPrefix.
func expectedPairs(t testing.TB, section, idPrefix string) map[string]string {
	b, err := os.ReadFile(filepath.Join(sharedDir(t), "corpus", "images", "EXPECTED.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			in = strings.HasPrefix(line, "## "+section)
			continue
		}
		if !in || !strings.HasPrefix(line, "|") {
			continue
		}
		cols := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		if len(cols) >= 5 && strings.HasPrefix(cols[3], idPrefix) {
			out[cols[0]+" "+cols[3]] = cols[4]
		}
	}
	if len(out) == 0 {
		t.Fatalf("EXPECTED.md section %q has no %s rows", section, idPrefix)
	}
	return out
}

func systemPairs(r *report.Report) map[string]string {
	out := map[string]string{}
	for _, f := range r.Findings {
		if f.Category == scan.SystemVulnerability {
			out[f.Package.Name+" "+f.ID] = f.FixedVersion
		}
	}
	return out
}

func diffSets(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := map[string]bool{}, map[string]bool{}
	for _, x := range got {
		g[x] = true
	}
	for _, x := range want {
		w[x] = true
	}
	for x := range w {
		if !g[x] {
			t.Errorf("%s: missing %s", what, x)
		}
	}
	for x := range g {
		if !w[x] {
			t.Errorf("%s: unexpected %s", what, x)
		}
	}
}

// tsvPairs reads a ground-truth TSV of matches (package, installed, cve,
// fixed, …) as "package CVE" → fixed version (without the 0: epoch, as
// packages carry none).
func tsvPairs(t *testing.T, name string) map[string]string {
	b, err := os.ReadFile(filepath.Join(sharedDir(t), "corpus", "images", "ground-truth", name))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		f := strings.Split(line, "\t")
		out[f[0]+" "+f[2]] = strings.TrimPrefix(f[3], "0:")
	}
	return out
}

func diffPairs(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, fixed := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("missing match %s (fixed %s)", k, fixed)
		} else if g != fixed {
			t.Errorf("%s: fixed version %s, want %s", k, g, fixed)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected match %s", k)
		}
	}
}

func corpusImage(t testing.TB, name string) source.Ref {
	return detect(t, filepath.Join(sharedDir(t), "corpus", "images", name))
}

func TestCorpusImages(t *testing.T) {
	db := advisoryStore(t)
	cases := []struct {
		image, truth      string
		family, version   string
		platform          string
		section, idPrefix string
		extraPairs        map[string]string
	}{
		{"debian-bookworm-app", "debian-bookworm-app.dpkg.tsv", "debian", "12.15", "linux/amd64", "Debian 12 system vulnerabilities", "CVE-", nil},
		{"ubuntu-24.04-noble", "ubuntu-24.04-noble.dpkg.tsv", "ubuntu", "24.04", "linux/amd64", "4. `ubuntu", "USN-", nil},
		{"almalinux-9.0-micro-arm64.tar", "almalinux-9.0-micro-arm64.rpm.tsv", "almalinux", "9.0", "linux/arm64/v8", "5. `almalinux", "AL", nil},
		// Alpine's expectations are prose in EXPECTED.md section 2.
		{"alpine-3.9-app.tar", "alpine-3.9-app.apk.tsv", "alpine", "3.9.0", "linux/amd64", "", "", map[string]string{
			"musl CVE-2019-14697": "1.1.20-r5", "musl-utils CVE-2019-14697": "1.1.20-r5",
			"libcrypto1.1 CVE-2019-1543": "1.1.1b-r1", "libssl1.1 CVE-2019-1543": "1.1.1b-r1",
			"libcrypto1.1 CVE-2019-1547": "1.1.1d-r0", "libssl1.1 CVE-2019-1547": "1.1.1d-r0",
			"libcrypto1.1 CVE-2019-1549": "1.1.1d-r0", "libssl1.1 CVE-2019-1549": "1.1.1d-r0",
			"libcrypto1.1 CVE-2019-1563": "1.1.1d-r0", "libssl1.1 CVE-2019-1563": "1.1.1d-r0",
		}},
		// The RPM images' expectations are the OVAL and CSAF ground truth
		// (EXPECTED.md, 2026-12-01): RHEL's one unfixed CVE has no fixed version.
		{"rpm-cbl-mariner-2.0-sqlite.tar", "rpm-cbl-mariner-2.0-sqlite.rpm.tsv", "mariner", "2.0", "linux/amd64", "", "", tsvPairs(t, "rpm-cbl-mariner-2.0-sqlite.oval-matches.tsv")},
		{"rpm-sles-15.3-ndb.tar", "rpm-sles-15.3-ndb.rpm.tsv", "sles", "15.3", "linux/amd64", "", "", tsvPairs(t, "rpm-sles-15.3-ndb.csaf-matches.tsv")},
		{"rpm-rhel-8.8-bdb.tar", "rpm-rhel-8.8-bdb.rpm.tsv", "rhel", "8.8", "linux/amd64", "", "", map[string]string{"libuuid CVE-2021-37600": ""}},
	}
	for _, c := range cases {
		t.Run(c.image, func(t *testing.T) {
			r := scanImage(t, db, corpusImage(t, c.image))
			if !r.Complete {
				t.Fatalf("incomplete report: %v", r.Errors)
			}
			if r.Image.OS == nil || r.Image.OS.Family != c.family || r.Image.OS.Version != c.version {
				t.Errorf("OS %+v, want %s %s", r.Image.OS, c.family, c.version)
			}
			if r.Image.Platform != c.platform {
				t.Errorf("platform %s, want %s", r.Image.Platform, c.platform)
			}
			diffSets(t, "packages", packageSet(r), groundTruth(t, c.truth))
			want := c.extraPairs
			if c.section != "" {
				want = expectedPairs(t, c.section, c.idPrefix)
			}
			diffPairs(t, systemPairs(r), want)
			for _, f := range r.Findings {
				if f.Category == scan.SystemVulnerability && f.Status == "fixed" && f.Remediation == "" {
					t.Errorf("%s on %s has no remediation", f.ID, f.Package.Name)
				}
			}
			// An OS release without advisory data must say so, never look clean.
			if len(want) == 0 {
				found := false
				for _, cv := range r.Coverage {
					if !cv.Covered && strings.Contains(cv.Note, "not checked") {
						found = true
					}
				}
				if !found {
					t.Errorf("no coverage note for an OS without advisory data: %+v", r.Coverage)
				}
			}
		})
	}
}

// TestDebianLayersAndWhiteouts checks attribution and whiteouts on the
// corpus Debian image (EXPECTED.md section 1).
func TestDebianLayersAndWhiteouts(t *testing.T) {
	r := scanImage(t, advisoryStore(t), corpusImage(t, "debian-bookworm-app"))
	if len(r.Layers) != 5 {
		t.Fatalf("%d layers, want 5", len(r.Layers))
	}
	layerOf := map[string]string{}
	for _, p := range r.Packages {
		layerOf[p.Name] = p.LayerDiffID
	}
	// libc6 ships in the debootstrap base; curl arrives with layer 1.
	if layerOf["libc6"] != r.Layers[0].DiffID {
		t.Errorf("libc6 attributed to %s, want layer 0", layerOf["libc6"])
	}
	for _, p := range []string{"curl", "libcurl4", "libssl3", "openssl", "ca-certificates"} {
		if layerOf[p] != r.Layers[1].DiffID {
			t.Errorf("%s attributed to %s, want layer 1 %s", p, layerOf[p], r.Layers[1].DiffID)
		}
	}
	// the openssl findings carry the layer that brought openssl
	for _, f := range r.Findings {
		if f.Package != nil && f.Package.Name == "openssl" && f.LayerDiffID != r.Layers[1].DiffID {
			t.Errorf("%s on openssl attributed to %s", f.ID, f.LayerDiffID)
		}
	}
	if !strings.Contains(r.Layers[0].CreatedBy, "ADD") {
		t.Errorf("layer 0 createdBy %q", r.Layers[0].CreatedBy)
	}
}
