// Package golang reads the build information the Go toolchain embeds in
// every binary: the main module, each dependency module (after replace
// directives) and the toolchain version, reported as the module "stdlib".
package golang

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"io/fs"
	"regexp"
	"strings"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/scan"
)

// Kind is the artifact kind this analyzer emits.
const Kind = "gobinary"

// Analyzer reads Go binaries.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return Kind }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 1 }

// Wants takes executables; shared objects and scripts are ruled out cheaply
// by name here and by magic number in Analyze.
func (Analyzer) Wants(p string, mode fs.FileMode) bool {
	if mode&0o111 == 0 {
		return false
	}
	return !strings.Contains(p[strings.LastIndexByte(p, '/')+1:], ".so")
}

// executable magic numbers: ELF, PE, Mach-O (both byte orders, 32/64, fat).
var magics = [][]byte{
	[]byte("\x7fELF"), []byte("MZ"),
	{0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf}, {0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe},
}

// IsExecutable tells binaries from scripts and data by their first bytes.
func IsExecutable(b []byte) bool {
	for _, m := range magics {
		if bytes.HasPrefix(b, m) {
			return true
		}
	}
	return false
}

// Analyze implements analyzer.Analyzer. A binary that is not a Go binary
// yields nothing: that is the common case, not an error.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	if !IsExecutable(in.Content) {
		return nil, nil
	}
	bi, err := buildinfo.Read(bytes.NewReader(in.Content))
	if err != nil {
		return nil, nil
	}
	return []scan.Artifact{{Path: in.Path, Kind: Kind, Packages: Packages(bi, in.Path)}}, nil
}

// Packages lists the modules of one binary's build info.
func Packages(bi *buildinfo.BuildInfo, path string) []scan.Package {
	var pkgs []scan.Package
	if v := StdlibVersion(bi.GoVersion); v != "" {
		pkgs = append(pkgs, analyzer.AppPackage("golang", "stdlib", v, path))
	}
	if m := bi.Main; m.Path != "" && m.Version != "" && m.Version != "(devel)" {
		pkgs = append(pkgs, analyzer.AppPackage("golang", m.Path, m.Version, path))
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		// A replacement by a local directory has no version to match.
		if d.Path == "" || d.Version == "" || d.Version == "(devel)" {
			continue
		}
		pkgs = append(pkgs, analyzer.AppPackage("golang", d.Path, d.Version, path))
	}
	return pkgs
}

var goVersionRe = regexp.MustCompile(`^go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?`)

// StdlibVersion turns a toolchain version ("go1.26.8", "go1.21.0
// X:boringcrypto", "go1.22rc1") into the semver the Go vulnerability
// database uses for stdlib ("1.26.8", "1.21.0", "1.22.0-rc.1").
func StdlibVersion(goVersion string) string {
	m := goVersionRe.FindStringSubmatch(goVersion)
	if m == nil {
		return ""
	}
	patch := m[3]
	if patch == "" {
		patch = "0"
	}
	v := m[1] + "." + m[2] + "." + patch
	if m[4] != "" {
		v += "-" + m[4] + "." + m[5]
	}
	return v
}
