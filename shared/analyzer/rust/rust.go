// Package rust reads Rust crates from Cargo.lock and from binaries built
// with cargo-auditable, which embed their dependency list as zlib-compressed
// JSON in a ".dep-v0" section.
package rust

import (
	"bytes"
	"compress/zlib"
	"context"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/analyzer/golang"
	"github.com/layerscan/layerscan/shared/analyzer/tomllock"
	"github.com/layerscan/layerscan/shared/scan"
)

// Kind is the artifact kind this analyzer emits.
const Kind = "cargo"

// Analyzer reads Cargo.lock files and auditable binaries.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return Kind }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 1 }

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, mode fs.FileMode) bool {
	return path.Base(p) == "Cargo.lock" || golang.Analyzer{}.Wants(p, mode)
}

// Analyze implements analyzer.Analyzer.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	if path.Base(in.Path) == "Cargo.lock" {
		pkgs, err := ParseCargoLock(in.Content, in.Path)
		return analyzer.Lenient(in.Path, Kind, pkgs, err)
	}
	if !golang.IsExecutable(in.Content) {
		return nil, nil
	}
	raw := depSection(in.Content)
	if raw == nil {
		return nil, nil // not built with cargo-auditable: the common case
	}
	pkgs, err := ParseAuditable(raw, in.Path)
	return analyzer.Lenient(in.Path, Kind, pkgs, err)
}

// ParseCargoLock lists the crates of Cargo.lock that come from a registry
// or git; workspace members have no source and are the project itself.
func ParseCargoLock(b []byte, file string) ([]scan.Package, error) {
	tables, err := tomllock.Packages(b)
	var pkgs []scan.Package
	for _, t := range tables {
		if t["name"] == "" || t["version"] == "" || t["source"] == "" {
			continue
		}
		p := analyzer.AppPackage("cargo", t["name"], t["version"], file)
		p.Lockfile = true
		pkgs = append(pkgs, p)
	}
	if err != nil {
		return pkgs, fmt.Errorf("cargo lock: %w", err)
	}
	return pkgs, nil
}

// depSection returns the raw ".dep-v0" section of an ELF, PE or Mach-O file.
func depSection(b []byte) []byte {
	r := bytes.NewReader(b)
	if f, err := elf.NewFile(r); err == nil {
		if s := f.Section(".dep-v0"); s != nil {
			d, _ := s.Data()
			return d
		}
		return nil
	}
	if f, err := pe.NewFile(r); err == nil {
		if s := f.Section(".dep-v0"); s != nil {
			d, _ := s.Data()
			return d
		}
		return nil
	}
	if f, err := macho.NewFile(r); err == nil {
		if s := f.Section("__dep_v0"); s != nil {
			d, _ := s.Data()
			return d
		}
	}
	return nil
}

// maxAuditJSON caps the decompressed dependency list (real ones are KiBs).
const maxAuditJSON = 8 << 20

// ParseAuditable decodes a .dep-v0 section: zlib-compressed JSON with one
// entry per crate; local crates (the binary's own workspace) are skipped.
func ParseAuditable(raw []byte, file string) ([]scan.Package, error) {
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("cargo-auditable section: %w", err)
	}
	js, err := io.ReadAll(io.LimitReader(zr, maxAuditJSON+1))
	if err != nil {
		return nil, fmt.Errorf("cargo-auditable section: %w", err)
	}
	if len(js) > maxAuditJSON {
		return nil, fmt.Errorf("cargo-auditable section decompresses to more than %d bytes", maxAuditJSON)
	}
	var doc struct {
		Packages []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Source  string `json:"source"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("cargo-auditable JSON: %w", err)
	}
	var pkgs []scan.Package
	for _, c := range doc.Packages {
		if c.Name == "" || c.Version == "" || strings.EqualFold(c.Source, "local") {
			continue
		}
		pkgs = append(pkgs, analyzer.AppPackage("cargo", c.Name, c.Version, file))
	}
	return pkgs, nil
}
