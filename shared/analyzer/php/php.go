// Package php reads Composer packages: installed ones from
// vendor/composer/installed.json (Composer 1 and 2) and declared ones from
// composer.lock.
package php

import (
	"bytes"
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
const Kind = "composer"

// Analyzer reads Composer files.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return Kind }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 1 }

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, _ fs.FileMode) bool {
	return path.Base(p) == "composer.lock" || strings.HasSuffix("/"+p, "/vendor/composer/installed.json")
}

type composerPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Analyze implements analyzer.Analyzer.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	lock := path.Base(in.Path) == "composer.lock"
	pkgs, err := Parse(in.Content, in.Path, lock)
	return analyzer.Lenient(in.Path, Kind, pkgs, err)
}

// Parse reads composer.lock ({"packages", "packages-dev"}) or installed.json
// (Composer 2: {"packages": [...]}; Composer 1: a bare array).
func Parse(b []byte, file string, lock bool) ([]scan.Package, error) {
	var list []composerPackage
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, fmt.Errorf("%s: %w", path.Base(file), err)
		}
	} else {
		var doc struct {
			Packages    []composerPackage `json:"packages"`
			PackagesDev []composerPackage `json:"packages-dev"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", path.Base(file), err)
		}
		list = append(doc.Packages, doc.PackagesDev...)
	}
	var pkgs []scan.Package
	for _, c := range list {
		// Tags are often "v1.2.3"; advisories use "1.2.3". Branches ("dev-main") match nothing.
		v := strings.TrimPrefix(c.Version, "v")
		if c.Name == "" || v == "" {
			continue
		}
		p := analyzer.AppPackage("composer", c.Name, v, file)
		p.Lockfile = lock
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}
