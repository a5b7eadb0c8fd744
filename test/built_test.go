package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/scan"
)

// goBinary builds a one-file program against one old module version. The
// module comes from the Go module proxy (or the local module cache); when
// neither can serve it the test is skipped and says why.
func goBinary(t *testing.T, module, version, importPath, use string) []byte {
	t.Helper()
	dir := t.TempDir()
	gomod := "module example.com/built\n\ngo 1.22\n\nrequire " + module + " " + version + "\n"
	main := "package main\n\nimport (\n\t\"fmt\"\n\n\t\"" + importPath + "\"\n)\n\nfunc main() { fmt.Println(" + use + ") }\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), "go", "build", "-trimpath", "-ldflags=-s -w", "-o", "app", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(out), "dial tcp") || strings.Contains(string(out), "no such host") || strings.Contains(string(out), "proxy") {
			t.Skipf("cannot fetch %s@%s (no module proxy reachable): %s", module, version, out)
		}
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBuiltInputs scans an image the test builds itself: two Go binaries
// linked against old module versions (one a pseudo-version), and the same
// npm package installed in two projects, one of them later deleted.
func TestBuiltInputs(t *testing.T) {
	text := goBinary(t, "golang.org/x/text", "v0.3.6", "golang.org/x/text/language", "language.English")
	crypto := goBinary(t, "golang.org/x/crypto", "v0.0.0-20200622213623-75b288015ac9", "golang.org/x/crypto/bcrypt", "bcrypt.DefaultCost")
	lodash := []byte(`{"name":"lodash","version":"4.17.15","main":"lodash.js"}`)
	base := tarWithModes(t,
		tarEntry{"usr/local/bin/oldtext", 0o755, text},
		tarEntry{"usr/local/bin/oldcrypto", 0o755, crypto},
		tarEntry{"srv/a/node_modules/lodash/package.json", 0o644, lodash},
		tarEntry{"srv/b/node_modules/lodash/package.json", 0o644, lodash},
	)
	storeDir := t.TempDir()
	copyDB(t, storeDir)
	r := scanImage(t, storeDir, layoutOf(t, base))

	found := map[string]scan.Finding{}
	for _, f := range r.Findings {
		if f.Package != nil {
			found[f.Path+" "+f.Package.Name+" "+f.ID] = f
		}
	}
	// x/text v0.3.6: every golang.org/x/text record of the corpus vulndb
	// introduced at 0 with a fix above 0.3.6 (0.3.7, 0.3.8, 0.39.0).
	for id, fixed := range map[string]string{"GO-2021-0113": "0.3.7", "GO-2022-1059": "0.3.8", "GO-2026-5970": "0.39.0"} {
		f, ok := found["/usr/local/bin/oldtext golang.org/x/text "+id]
		if !ok || f.FixedVersion != fixed {
			t.Errorf("oldtext: %s fixed %q, want %s", id, f.FixedVersion, fixed)
		}
	}
	// x/crypto at a June 2020 pseudo-version: GO-2021-0227 was fixed in
	// December 2020 and applies; GO-2020-0012 was fixed in February 2020 and
	// must not. Pseudo-versions order by their timestamp.
	if f, ok := found["/usr/local/bin/oldcrypto golang.org/x/crypto GO-2021-0227"]; !ok || f.FixedVersion != "0.0.0-20201216223049-8b5274cf687f" {
		t.Errorf("oldcrypto GO-2021-0227 missing or wrong fix: %+v", f)
	}
	if _, ok := found["/usr/local/bin/oldcrypto golang.org/x/crypto GO-2020-0012"]; ok {
		t.Error("GO-2020-0012 (fixed before this pseudo-version) reported")
	}
	// One package, two installations: two findings, each with its own path.
	for _, p := range []string{"/srv/a", "/srv/b"} {
		if _, ok := found[p+"/node_modules/lodash/package.json lodash GHSA-p6mc-m468-83gw"]; !ok {
			t.Errorf("no lodash finding at %s", p)
		}
	}

	// A later layer deletes one installation: its package and findings go.
	gone := tarWithModes(t, tarEntry{"srv/b/node_modules/.wh.lodash", 0o644, nil})
	r2 := scanImage(t, storeDir, layoutOf(t, base, gone))
	n := 0
	for _, f := range r2.Findings {
		if f.Package != nil && f.Package.Name == "lodash" {
			n++
			if !strings.HasPrefix(f.Path, "/srv/a/") {
				t.Errorf("finding on a deleted package: %+v", f)
			}
		}
	}
	if n == 0 {
		t.Error("the surviving lodash lost its findings")
	}
}

// TestNpmInstallTransitive installs an old mkdirp with the real npm: its
// dependency minimist 0.0.8 is affected by GHSA-vh95-rmgr-6w4m (fixed 0.2.1
// on the 0.x line) and GHSA-xvch-5gv4-984h (fixed 0.2.4), and mkdirp itself
// by none of the corpus records.
func TestNpmInstallTransitive(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed")
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(context.Background(), npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", dir, "mkdirp@0.5.1")
	cmd.Env = append(os.Environ(), "npm_config_cache="+filepath.Join(dir, ".cache"), "npm_config_update_notifier=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("npm install failed (registry unreachable?): %v\n%s", err, out)
	}
	os.RemoveAll(filepath.Join(dir, ".cache"))
	storeDir := t.TempDir()
	copyDB(t, storeDir)
	r := scanImage(t, storeDir, layoutOf(t, tarDir(t, dir, "srv/tool")))

	got := map[string]string{}
	for _, f := range r.Findings {
		if f.Package != nil {
			got[f.Package.Name+" "+f.Package.Version+" "+f.ID] = f.FixedVersion
			if f.Path != "/srv/tool/node_modules/minimist/package.json" {
				t.Errorf("%s at %s", f.ID, f.Path)
			}
		}
	}
	want := map[string]string{"minimist 0.0.8 GHSA-vh95-rmgr-6w4m": "0.2.1", "minimist 0.0.8 GHSA-xvch-5gv4-984h": "0.2.4"}
	if len(got) != len(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: fixed %q, want %s", k, got[k], v)
		}
	}
	// The lockfile repeats what node_modules holds: no package twice.
	seen := map[string]bool{}
	for _, p := range r.Packages {
		if seen[p.Name+p.Version] {
			t.Errorf("%s %s listed twice (%s)", p.Name, p.Version, p.Path)
		}
		seen[p.Name+p.Version] = true
	}
}

// TestDebianPythonPackageIsLeftToDebian installs Debian's real
// python3-urllib3 .deb (registered with dpkg) into an image. Its egg-info
// says 1.26.12, but Debian ships the fixes as 1.26.12-1+deb12uN: the PyPI
// advisories for 1.26.12 must not be reported against it, and the package
// must appear once, as the deb.
func TestDebianPythonPackageIsLeftToDebian(t *testing.T) {
	dir := t.TempDir()
	dl := exec.CommandContext(context.Background(), "apt-get", "download", "python3-urllib3")
	dl.Dir = dir
	if out, err := dl.CombinedOutput(); err != nil {
		t.Skipf("apt-get download python3-urllib3 failed (no Debian mirror or apt lists?): %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "python3-urllib3_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("downloaded %v", debs)
	}
	root := filepath.Join(dir, "root")
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	control, err := exec.Command("dpkg-deb", "-f", debs[0]).Output()
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	var files []tarEntry
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		b, _ := os.ReadFile(p)
		list = append(list, "/"+filepath.ToSlash(rel))
		files = append(files, tarEntry{filepath.ToSlash(rel), 0o644, b})
		return nil
	})
	status := "Package: python3-urllib3\nStatus: install ok installed\n" + strings.TrimPrefix(string(control), "Package: python3-urllib3\n")
	files = append(files,
		tarEntry{"etc/os-release", 0o644, []byte("ID=debian\nVERSION_ID=\"12\"\n")},
		tarEntry{"var/lib/dpkg/status", 0o644, []byte(status)},
		tarEntry{"var/lib/dpkg/info/python3-urllib3.list", 0o644, []byte("/.\n/usr\n" + strings.Join(list, "\n") + "\n")},
	)
	storeDir := t.TempDir()
	copyDB(t, storeDir)
	r := scanImage(t, storeDir, layoutOf(t, tarWithModes(t, files...)))
	var types []string
	for _, p := range r.Packages {
		types = append(types, p.Type+" "+p.Name+" "+p.Version)
	}
	if len(r.Packages) != 1 || r.Packages[0].Type != "deb" {
		t.Errorf("packages %v, want only the deb", types)
	}
	for _, f := range r.Findings {
		if strings.HasPrefix(f.ID, "PYSEC-") || f.Category == scan.ApplicationVulnerability {
			t.Errorf("upstream advisory reported against Debian's package: %s %s", f.ID, f.Path)
		}
	}
}

// TestDistrolessStatusD: distroless images have no dpkg status file, one
// record per package in var/lib/dpkg/status.d/ (no Status line), with
// md5sums beside them.
func TestDistrolessStatusD(t *testing.T) {
	layer := tarWithModes(t,
		tarEntry{"etc/os-release", 0o644, []byte("PRETTY_NAME=\"Distroless\"\nID=debian\nVERSION_ID=\"12\"\n")},
		tarEntry{"var/lib/dpkg/status.d/base-files", 0o644, []byte("Package: base-files\nVersion: 12.4+deb12u10\nArchitecture: amd64\nMaintainer: Santiago Vila\n")},
		tarEntry{"var/lib/dpkg/status.d/libssl3", 0o644, []byte("Package: libssl3\nSource: openssl\nVersion: 3.0.20-1~deb12u2\nArchitecture: amd64\n")},
		tarEntry{"var/lib/dpkg/status.d/libssl3.md5sums", 0o644, []byte("d41d8cd98f00b204e9800998ecf8427e  usr/lib/x86_64-linux-gnu/libssl.so.3\n")},
	)
	storeDir := t.TempDir()
	copyDB(t, storeDir)
	r := scanImage(t, storeDir, layoutOf(t, layer))
	got := strings.Join(packageSet(r), ",")
	if got != "base-files 12.4+deb12u10,libssl3 3.0.20-1~deb12u2" || r.Image.OS == nil || r.Image.OS.Family != "debian" {
		t.Errorf("packages %s, OS %+v", got, r.Image.OS)
	}
	// libssl3 matches the openssl source package's Debian 12 records.
	n := 0
	for _, f := range r.Findings {
		if f.Package != nil && f.Package.Name == "libssl3" {
			n++
		}
	}
	if n == 0 {
		t.Error("libssl3 from status.d was not matched by its source package")
	}
}
