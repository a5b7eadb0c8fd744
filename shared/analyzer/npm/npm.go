// Package npm reads JavaScript packages: installed ones from
// node_modules/*/package.json, and declared ones from package-lock.json
// (v1–v3), npm-shrinkwrap.json, node_modules/.package-lock.json, yarn.lock
// (classic and berry) and pnpm-lock.yaml (v5–v9).
package npm

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/scan"
)

// Kind is the artifact kind this analyzer emits.
const Kind = "npm"

// Analyzer reads npm packages.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return Kind }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 1 }

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, _ fs.FileMode) bool {
	base := path.Base(p)
	switch base {
	case "package.json":
		return isInstalledManifest(p)
	case ".package-lock.json":
		return path.Base(path.Dir(p)) == "node_modules"
	case "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml":
		// A package's own lockfile inside node_modules is not what is installed.
		return !strings.Contains("/"+p, "/node_modules/")
	}
	return false
}

// isInstalledManifest is true for node_modules/<name>/package.json and
// node_modules/@scope/<name>/package.json, not for files deeper in a package.
func isInstalledManifest(p string) bool {
	i := strings.LastIndex("/"+p, "/node_modules/")
	if i < 0 {
		return false
	}
	rest := strings.TrimSuffix(("/" + p)[i+len("/node_modules/"):], "/package.json")
	parts := strings.Split(rest, "/")
	switch len(parts) {
	case 1:
		return parts[0] != "" && !strings.HasPrefix(parts[0], ".")
	case 2:
		return strings.HasPrefix(parts[0], "@")
	}
	return false
}

// Analyze implements analyzer.Analyzer. A malformed file is a warning: JavaScript
// trees are full of test fixtures and templates.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	var pkgs []scan.Package
	var err error
	switch path.Base(in.Path) {
	case "package.json":
		pkgs, err = parseManifest(in.Content, in.Path)
	case "yarn.lock":
		pkgs, err = ParseYarnLock(in.Content, in.Path)
	case "pnpm-lock.yaml":
		pkgs, err = ParsePnpmLock(in.Content, in.Path)
	default:
		pkgs, err = ParsePackageLock(in.Content, in.Path)
	}
	return analyzer.Lenient(in.Path, Kind, pkgs, err)
}

func newPackage(name, version, file string, lock bool) scan.Package {
	p := analyzer.AppPackage("npm", name, version, file)
	p.Lockfile = lock
	return p
}

func parseManifest(b []byte, file string) ([]scan.Package, error) {
	var m struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("package.json: %w", err)
	}
	if m.Name == "" || m.Version == "" {
		return nil, nil // a workspace stub or template, not an installed package
	}
	return []scan.Package{newPackage(m.Name, m.Version, file, false)}, nil
}

type lockV1Dep struct {
	Version      string               `json:"version"`
	Bundled      bool                 `json:"bundled"`
	Dependencies map[string]lockV1Dep `json:"dependencies"`
}

// ParsePackageLock reads package-lock.json and npm-shrinkwrap.json in every
// lockfileVersion: v2 and v3 list "packages" by install path, v1 nests
// "dependencies".
func ParsePackageLock(b []byte, file string) ([]scan.Package, error) {
	var l struct {
		LockfileVersion int `json:"lockfileVersion"`
		Packages        map[string]struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Link    bool   `json:"link"`
		} `json:"packages"`
		Dependencies map[string]lockV1Dep `json:"dependencies"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("package lock: %w", err)
	}
	var pkgs []scan.Package
	if len(l.Packages) > 0 {
		for key, p := range l.Packages {
			// "" is the project itself; links point at workspace folders.
			if key == "" || p.Link || p.Version == "" {
				continue
			}
			name := p.Name
			if i := strings.LastIndex(key, "node_modules/"); i >= 0 {
				name = key[i+len("node_modules/"):]
			}
			if name == "" || strings.HasPrefix(p.Version, "file:") {
				continue
			}
			pkgs = append(pkgs, newPackage(name, p.Version, file, true))
		}
		return pkgs, nil
	}
	var walk func(map[string]lockV1Dep, int) error
	walk = func(deps map[string]lockV1Dep, depth int) error {
		if depth > 64 {
			return fmt.Errorf("package lock: dependencies nested deeper than 64")
		}
		for name, d := range deps {
			if d.Version != "" && !strings.Contains(d.Version, ":") {
				pkgs = append(pkgs, newPackage(name, d.Version, file, true))
			}
			if err := walk(d.Dependencies, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return pkgs, walk(l.Dependencies, 0)
}
