// Package java reads Java archives (jar, war, ear and their relatives):
// every META-INF/maven/**/pom.properties names one artifact (shaded jars
// carry several), the manifest stands in when there is none, and archives
// nested inside archives (WEB-INF/lib, BOOT-INF/lib) are read the same way.
package java

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/scan"
)

// Kind is the artifact kind this analyzer emits.
const Kind = "java"

// Limits bound what one archive may make us read; nested archives are
// decompressed into memory, so a zip bomb must stop at a cap, not at OOM.
type Limits struct {
	MaxDepth int
	// MaxNestedBytes caps one nested archive; MaxTotalBytes all bytes
	// decompressed for one top-level archive.
	MaxNestedBytes int64
	MaxTotalBytes  int64
}

// DefaultLimits fit real fat jars (Spring Boot, Jenkins plugins) with room.
var DefaultLimits = Limits{MaxDepth: 4, MaxNestedBytes: 128 << 20, MaxTotalBytes: 512 << 20}

// Analyzer reads Java archives.
type Analyzer struct{ Limits Limits }

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return Kind }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 1 }

var archiveExts = []string{".jar", ".war", ".ear", ".par", ".sar", ".jpi", ".hpi", ".rar", ".nar", ".kar"}

// IsArchive tells Java archives by name.
func IsArchive(p string) bool {
	ext := strings.ToLower(path.Ext(p))
	for _, e := range archiveExts {
		if ext == e {
			return true
		}
	}
	return false
}

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, _ fs.FileMode) bool { return IsArchive(p) }

// Analyze implements analyzer.Analyzer. A damaged archive is a warning: the
// packages read before the damage are kept.
func (a Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	lim := a.Limits
	if lim.MaxDepth == 0 {
		lim = DefaultLimits
	}
	r := &reader{lim: lim}
	pkgs, err := r.archive(in.Content, in.Path, 0)
	return analyzer.Lenient(in.Path, Kind, pkgs, err)
}

type reader struct {
	lim  Limits
	read int64
}

var errBudget = errors.New("archive exceeds the decompression budget")

// archive reads one (possibly nested) archive; name is its display path.
func (r *reader) archive(b []byte, name string, depth int) ([]scan.Package, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var pkgs []scan.Package
	var manifest map[string]string
	var errs []error
	seen := map[string]bool{}
	for _, f := range zr.File {
		switch {
		case strings.HasPrefix(f.Name, "META-INF/maven/") && strings.HasSuffix(f.Name, "/pom.properties"):
			body, err := r.readFile(f, 1<<20)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s!/%s: %w", name, f.Name, err))
				continue
			}
			props := parseProperties(body)
			g, a, v := props["groupId"], props["artifactId"], props["version"]
			if g == "" || a == "" || v == "" || strings.Contains(v, "${") || seen[g+":"+a+"@"+v] {
				continue
			}
			seen[g+":"+a+"@"+v] = true
			pkgs = append(pkgs, analyzer.AppPackage("maven", g+":"+a, v, name))
		case f.Name == "META-INF/MANIFEST.MF":
			body, err := r.readFile(f, 1<<20)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s!/%s: %w", name, f.Name, err))
				continue
			}
			manifest = parseManifest(body)
		case IsArchive(f.Name) && !f.FileInfo().IsDir():
			if depth+1 >= r.lim.MaxDepth {
				errs = append(errs, fmt.Errorf("%s!/%s: archives nested deeper than %d were not read", name, f.Name, r.lim.MaxDepth))
				continue
			}
			body, err := r.readFile(f, r.lim.MaxNestedBytes)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s!/%s: %w", name, f.Name, err))
				if errors.Is(err, errBudget) {
					return sortPkgs(pkgs), errors.Join(errs...)
				}
				continue
			}
			nested, err := r.archive(body, name+"!/"+f.Name, depth+1)
			pkgs = append(pkgs, nested...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(seen) == 0 {
		if p, ok := fromManifest(manifest, name); ok {
			pkgs = append(pkgs, p)
		}
	}
	return sortPkgs(pkgs), errors.Join(errs...)
}

func sortPkgs(p []scan.Package) []scan.Package {
	sort.SliceStable(p, func(i, j int) bool { return p[i].Path < p[j].Path })
	return p
}

// readFile decompresses one member within its own cap and the archive budget.
func (r *reader) readFile(f *zip.File, max int64) ([]byte, error) {
	if int64(f.UncompressedSize64) > max {
		return nil, fmt.Errorf("%d bytes is over the %d-byte cap", f.UncompressedSize64, max)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	left := r.lim.MaxTotalBytes - r.read
	if left > max {
		left = max
	}
	b, err := io.ReadAll(io.LimitReader(rc, left+1))
	r.read += int64(len(b))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > left {
		if r.read > r.lim.MaxTotalBytes {
			return nil, errBudget
		}
		return nil, fmt.Errorf("member is larger than its header says")
	}
	return b, nil
}

func parseProperties(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// parseManifest reads the main section of MANIFEST.MF, joining 72-column
// continuation lines (they start with one space).
func parseManifest(b []byte) map[string]string {
	m := map[string]string{}
	last := ""
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		if line == "" {
			break // end of the main section
		}
		if line[0] == ' ' && last != "" {
			m[last] += line[1:]
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if ok {
			last = strings.TrimSpace(k)
			m[last] = strings.TrimSpace(v)
		}
	}
	return m
}

var fileVersionRe = regexp.MustCompile(`^(.+?)-(\d[\w.\-]*)$`)

// fromManifest names an archive without pom.properties: OSGi and
// Implementation-* headers, else the file name "artifact-1.2.3.jar".
// Without a group the package is listed but cannot match Maven advisories.
func fromManifest(m map[string]string, name string) (scan.Package, bool) {
	group := firstOf(m, "Implementation-Vendor-Id", "Automatic-Module-Name")
	artifact := firstOf(m, "Implementation-Title", "Bundle-Name")
	version := firstOf(m, "Implementation-Version", "Bundle-Version")
	if sym := m["Bundle-SymbolicName"]; sym != "" {
		sym, _, _ = strings.Cut(sym, ";")
		if i := strings.LastIndex(sym, "."); i > 0 && group == "" {
			group, artifact = sym[:i], sym[i+1:]
		}
	}
	base := strings.TrimSuffix(path.Base(name), path.Ext(name))
	if fm := fileVersionRe.FindStringSubmatch(base); fm != nil {
		if version == "" {
			version = fm[2]
		}
		artifact = fm[1]
	}
	if artifact == "" || version == "" || strings.ContainsAny(artifact, " /") && group == "" {
		return scan.Package{}, false
	}
	full := artifact
	if group != "" && !strings.ContainsAny(group, " /") {
		full = group + ":" + artifact
	}
	return analyzer.AppPackage("maven", full, version, name), true
}

func firstOf(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}
