package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/registry"
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
	r := scanImage(t, storeDir, layoutOf(t, base), registry.Options{})

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
	r2 := scanImage(t, storeDir, layoutOf(t, base, gone), registry.Options{})
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
