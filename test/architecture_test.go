package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/layerscan/layerscan/"

type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
	GoFiles    []string
	Dir        string
}

// listPackages runs go list -json over the module.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "-deps=false", "../...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p goPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestArchitecture keeps the arrows of docs/architecture.md pointing one way.
func TestArchitecture(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	pkgs := listPackages(t)
	ours := func(p goPackage) []string {
		var out []string
		for _, i := range p.Imports {
			if rest, ok := strings.CutPrefix(i, module); ok {
				out = append(out, rest)
			}
		}
		return out
	}
	for _, p := range pkgs {
		name := strings.TrimPrefix(p.ImportPath, module)
		imports := ours(p)
		switch {
		case name == "shared/scan" || name == "shared/storekey" || name == "shared/source" || name == "shared/digest" || name == "shared/redact":
			if len(imports) > 0 {
				t.Errorf("%s must import nothing of ours, imports %v", name, imports)
			}
		case strings.HasPrefix(name, "shared/analyzer"):
			for _, i := range imports {
				if !strings.HasPrefix(i, "shared/analyzer") && i != "shared/scan" && i != "shared/layer" && i != "shared/squash" {
					t.Errorf("%s imports %s: analyzers import only the analyzer port, layer and scan", name, i)
				}
			}
		case strings.HasPrefix(name, "functions/"):
			for _, i := range imports {
				if i != "shared/suite" && i != "shared/platform" && i != "shared/pipeline" && i != "shared/cloudenv" {
					t.Errorf("%s imports %s: functions are wiring of suite and platform only", name, i)
				}
			}
		case name == "shared/registry" || name == "shared/ocilayout" || name == "shared/dockerarchive" || strings.HasPrefix(name, "shared/store") || strings.HasPrefix(name, "shared/platform"):
			for _, i := range imports {
				if i == "shared/pipeline" || i == "shared/suite" {
					t.Errorf("adapter %s imports the step package %s", name, i)
				}
			}
		}
	}
	// The CLI, which only uses a local folder, links no cloud SDK.
	out, err := exec.Command("go", "list", "-deps", "../cmd/layerscan").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "aliyun-oss-go-sdk") || strings.Contains(dep, "aws-sdk-go-v2/service/s3") {
			t.Errorf("the CLI links %s", dep)
		}
	}
}

// keyLiteral is a store-key string literal of the layout's prefixes.
var keyLiteral = regexp.MustCompile(`"(?:layers|images|reports|scans|queue|advisories|signatures|policy|config|tasks|tasklog|taskopen|quota|tags|throttle|events|audit|notifications|fixes|changes|runtime)/`)

// importSpec is a line of an import declaration: a path alone (in a
// block, where no comma follows it) or after the import keyword.
var importSpec = regexp.MustCompile(`^\s*(?:import\s+)?(?:[\w.]+\s+)?"[^"]*"\s*$`)

// TestStoreKeysLiveInStorekey: no code outside shared/storekey spells a key.
func TestStoreKeysLiveInStorekey(t *testing.T) {
	for _, root := range []string{"../shared", "../cmd", "../functions"} {
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.Contains(p, "storekey") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "//") || importSpec.MatchString(line) {
					continue // an import path ("runtime/metrics") is no key
				}
				if keyLiteral.MatchString(line) {
					t.Errorf("%s:%d spells a store key: %s", p, i+1, strings.TrimSpace(line))
				}
			}
			return nil
		})
	}
}
