// Package ruby reads Ruby gems: installed ones from
// specifications/*.gemspec and declared ones from Gemfile.lock.
package ruby

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/scan"
)

// Kind is the artifact kind this analyzer emits.
const Kind = "ruby"

// Analyzer reads gems.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return Kind }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 1 }

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, _ fs.FileMode) bool {
	base := path.Base(p)
	if base == "Gemfile.lock" || base == "gems.locked" {
		return true
	}
	return strings.HasSuffix(base, ".gemspec") && path.Base(path.Dir(p)) == "specifications"
}

// Analyze implements analyzer.Analyzer.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	var pkgs []scan.Package
	var err error
	if strings.HasSuffix(in.Path, ".gemspec") {
		pkgs, err = ParseGemspec(in.Content, in.Path)
	} else {
		pkgs = ParseGemfileLock(in.Content, in.Path)
	}
	return analyzer.Lenient(in.Path, Kind, pkgs, err)
}

var (
	nameRe    = regexp.MustCompile(`(?m)^\s*\w+\.name\s*=\s*["']([^"']+)["']`)
	versionRe = regexp.MustCompile(`(?m)^\s*\w+\.version\s*=\s*(?:Gem::Version\.new\(\s*)?["']([^"']+)["']`)
)

// ParseGemspec reads the name and version assignments RubyGems writes into
// an installed gem's specification (`s.name = "rack".freeze`).
func ParseGemspec(b []byte, file string) ([]scan.Package, error) {
	n, v := nameRe.FindSubmatch(b), versionRe.FindSubmatch(b)
	if n == nil || v == nil {
		return nil, fmt.Errorf("gemspec without a literal name and version")
	}
	return []scan.Package{analyzer.AppPackage("gem", string(n[1]), string(v[1]), file)}, nil
}

// ParseGemfileLock reads the specs of the GEM section: four-space lines
// "name (version[-platform])"; deeper lines are their dependencies.
func ParseGemfileLock(b []byte, file string) []scan.Package {
	var pkgs []scan.Package
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line != "" && line[0] != ' ' {
			section = strings.TrimSpace(line)
			continue
		}
		if section != "GEM" || !strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "     ") {
			continue
		}
		name, rest, ok := strings.Cut(strings.TrimSpace(line), " (")
		if !ok || !strings.HasSuffix(rest, ")") {
			continue
		}
		version, _, _ := strings.Cut(strings.TrimSuffix(rest, ")"), "-")
		p := analyzer.AppPackage("gem", name, version, file)
		p.Lockfile = true
		pkgs = append(pkgs, p)
	}
	return pkgs
}
