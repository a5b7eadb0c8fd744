// Package python reads Python packages: installed distributions from their
// metadata (*.dist-info/METADATA, *.egg-info/PKG-INFO, a one-file *.egg-info)
// and declared ones from requirements files (exact pins only), poetry.lock,
// uv.lock, pdm.lock and Pipfile.lock.
package python

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/analyzer/tomllock"
	"github.com/layerscan/layerscan/shared/scan"
)

// Kind is the artifact kind this analyzer emits.
const Kind = "python"

// Analyzer reads Python packages.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return Kind }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 1 }

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, _ fs.FileMode) bool {
	base, dir := path.Base(p), path.Base(path.Dir(p))
	switch {
	case base == "METADATA":
		return strings.HasSuffix(dir, ".dist-info")
	case base == "PKG-INFO":
		return strings.HasSuffix(dir, ".egg-info") || dir == "EGG-INFO"
	case strings.HasSuffix(base, ".egg-info"):
		return true // a one-file egg-info; a directory never reaches Wants
	case base == "poetry.lock", base == "uv.lock", base == "pdm.lock", base == "Pipfile.lock":
		return true
	}
	return isRequirements(p)
}

func isRequirements(p string) bool {
	base := path.Base(p)
	if !strings.HasSuffix(base, ".txt") || strings.Contains(p, "site-packages/") || strings.Contains(p, "dist-packages/") {
		return false
	}
	return strings.HasPrefix(base, "requirements") || path.Base(path.Dir(p)) == "requirements"
}

// Analyze implements analyzer.Analyzer.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	var pkgs []scan.Package
	var err error
	switch base := path.Base(in.Path); {
	case base == "poetry.lock" || base == "uv.lock" || base == "pdm.lock":
		pkgs, err = ParseTOMLLock(in.Content, in.Path)
	case base == "Pipfile.lock":
		pkgs, err = ParsePipfileLock(in.Content, in.Path)
	case isRequirements(in.Path):
		pkgs = ParseRequirements(in.Content, in.Path)
	default:
		pkgs, err = ParseMetadata(in.Content, in.Path)
	}
	return analyzer.Lenient(in.Path, Kind, pkgs, err)
}

func newPackage(name, version, file string, lock bool) scan.Package {
	p := analyzer.AppPackage("pypi", name, version, file)
	p.Lockfile = lock
	return p
}

// ParseMetadata reads the Name and Version headers of core metadata
// (RFC 822 style; the headers end at the first blank line).
func ParseMetadata(b []byte, file string) ([]scan.Package, error) {
	name, version := "", ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "name":
			name = strings.TrimSpace(v)
		case "version":
			version = strings.TrimSpace(v)
		}
	}
	if name == "" || version == "" {
		return nil, fmt.Errorf("metadata without Name and Version")
	}
	return []scan.Package{newPackage(name, version, file, false)}, nil
}

var pinRe = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)\s*$`)

// ParseRequirements takes the exact pins (name==1.2.3) of a requirements
// file; ranges say what may be installed, not what is.
func ParseRequirements(b []byte, file string) []scan.Package {
	var pkgs []scan.Package
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // environment marker
		}
		line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "\\"))
		if line == "" || line[0] == '#' || line[0] == '-' {
			continue
		}
		if m := pinRe.FindStringSubmatch(line); m != nil {
			pkgs = append(pkgs, newPackage(m[1], m[2], file, true))
		}
	}
	return pkgs
}

// ParseTOMLLock reads poetry.lock, uv.lock and pdm.lock; the project itself
// (an editable or virtual source in uv.lock) is not a dependency.
func ParseTOMLLock(b []byte, file string) ([]scan.Package, error) {
	tables, err := tomllock.Packages(b)
	var pkgs []scan.Package
	for _, t := range tables {
		src := t["source"]
		if t["name"] == "" || t["version"] == "" || strings.Contains(src, "editable") || strings.Contains(src, "virtual") {
			continue
		}
		pkgs = append(pkgs, newPackage(t["name"], t["version"], file, true))
	}
	if err != nil {
		return pkgs, fmt.Errorf("%s: %w", path.Base(file), err)
	}
	return pkgs, nil
}

// ParsePipfileLock reads the default and develop sections of Pipfile.lock.
func ParsePipfileLock(b []byte, file string) ([]scan.Package, error) {
	var l map[string]json.RawMessage
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("pipfile lock: %w", err)
	}
	var pkgs []scan.Package
	for _, section := range []string{"default", "develop"} {
		var deps map[string]struct {
			Version string `json:"version"`
		}
		if raw, ok := l[section]; ok {
			if err := json.Unmarshal(raw, &deps); err != nil {
				return pkgs, fmt.Errorf("pipfile lock, section %s: %w", section, err)
			}
		}
		for name, d := range deps {
			if v := strings.TrimPrefix(d.Version, "=="); v != d.Version && v != "" {
				pkgs = append(pkgs, newPackage(name, v, file, true))
			}
		}
	}
	return pkgs, nil
}
