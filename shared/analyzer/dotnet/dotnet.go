// Package dotnet reads NuGet packages from *.deps.json (what a published
// application loads) and packages.lock.json (what a project restores).
package dotnet

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
const Kind = "nuget"

// Analyzer reads .NET dependency files.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return Kind }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 1 }

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, _ fs.FileMode) bool {
	base := path.Base(p)
	return strings.HasSuffix(base, ".deps.json") || base == "packages.lock.json"
}

// Analyze implements analyzer.Analyzer.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	var pkgs []scan.Package
	var err error
	if path.Base(in.Path) == "packages.lock.json" {
		pkgs, err = ParsePackagesLock(in.Content, in.Path)
	} else {
		pkgs, err = ParseDepsJSON(in.Content, in.Path)
	}
	return analyzer.Lenient(in.Path, Kind, pkgs, err)
}

// ParseDepsJSON reads the "libraries" of a deps.json: "Name/Version" keys
// of type "package" (type "project" is the application itself).
func ParseDepsJSON(b []byte, file string) ([]scan.Package, error) {
	var d struct {
		Libraries map[string]struct {
			Type string `json:"type"`
		} `json:"libraries"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("deps.json: %w", err)
	}
	var pkgs []scan.Package
	for key, lib := range d.Libraries {
		name, version, ok := strings.Cut(key, "/")
		if !ok || lib.Type != "package" || name == "" || version == "" {
			continue
		}
		pkgs = append(pkgs, analyzer.AppPackage("nuget", name, version, file))
	}
	return pkgs, nil
}

// ParsePackagesLock reads packages.lock.json: per target framework, each
// package with its resolved version; project references are skipped. A
// package restored for several frameworks is listed once per version.
func ParsePackagesLock(b []byte, file string) ([]scan.Package, error) {
	var l struct {
		Dependencies map[string]map[string]struct {
			Type     string `json:"type"`
			Resolved string `json:"resolved"`
		} `json:"dependencies"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("packages.lock.json: %w", err)
	}
	seen := map[string]bool{}
	var pkgs []scan.Package
	for _, deps := range l.Dependencies {
		for name, d := range deps {
			if d.Type == "Project" || d.Resolved == "" || seen[name+"@"+d.Resolved] {
				continue
			}
			seen[name+"@"+d.Resolved] = true
			p := analyzer.AppPackage("nuget", name, d.Resolved, file)
			p.Lockfile = true
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, nil
}
