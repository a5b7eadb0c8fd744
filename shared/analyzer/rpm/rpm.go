// Package rpm reads rpm databases in all three formats: BerkeleyDB
// (Packages), NDB (Packages.db) and SQLite (rpmdb.sqlite), through
// knqyf263/go-rpmdb, which needs a file on disk: the content is spooled to a
// private temporary file for the duration of the parse.
package rpm

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strings"

	// go-rpmdb opens SQLite rpmdbs through database/sql; this pure-Go driver
	// (the one go-rpmdb is tested with) registers itself as "sqlite".
	_ "github.com/glebarez/go-sqlite"
	rpmdb "github.com/knqyf263/go-rpmdb/pkg"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/scan"
)

// Kind is the artifact kind this analyzer emits.
const Kind = "rpm"

// Analyzer reads rpm databases.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return "rpm" }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 5 }

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, _ fs.FileMode) bool {
	dir, base := path.Split(p)
	if !strings.HasSuffix(dir, "/rpm/") && dir != "rpm/" {
		return false
	}
	return base == "Packages" || base == "Packages.db" || base == "rpmdb.sqlite"
}

// Analyze implements analyzer.Analyzer.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	pkgs, files, err := ParseDB(in.Content, in.Path)
	if err != nil {
		return nil, err
	}
	return []scan.Artifact{{Path: in.Path, Kind: Kind, Packages: pkgs, Files: files}}, nil
}

// Parse lists the packages of one rpm database file.
func Parse(content []byte, p string) ([]scan.Package, error) {
	pkgs, _, err := ParseDB(content, p)
	return pkgs, err
}

// ParseDB lists the packages of one rpm database file and the files they
// installed (relative to the root).
func ParseDB(content []byte, p string) ([]scan.Package, []string, error) {
	if path.Base(p) == "Packages" {
		return parseBDB(content, p)
	}
	return parseWithRpmdb(content, p)
}

func addFiles(files []string, abs []string) []string {
	for _, f := range abs {
		if f = strings.TrimPrefix(f, "/"); f != "" {
			files = append(files, f)
		}
	}
	return files
}

func parseBDB(content []byte, p string) ([]scan.Package, []string, error) {
	blobs, err := bdbValues(content)
	if err != nil {
		return nil, nil, err
	}
	var pkgs []scan.Package
	var files []string
	for i, b := range blobs {
		if len(b) <= 8 {
			continue // key 0 holds rpm's next-instance counter, not a header
		}
		h, err := parseHeader(b)
		if err != nil {
			return nil, nil, fmt.Errorf("package record %d: %w", i, err)
		}
		if p := newPackage(h, p); p != nil {
			pkgs = append(pkgs, *p)
			files = addFiles(files, h.Files)
		}
	}
	return pkgs, files, nil
}

// spools bounds the rpm databases spooled to TMPDIR at once: on Function
// Compute, /tmp is shared by an instance's concurrent requests.
var spools = make(chan struct{}, 2)

func parseWithRpmdb(content []byte, p string) ([]scan.Package, []string, error) {
	spools <- struct{}{}
	defer func() { <-spools }()
	dir, err := os.MkdirTemp("", "layerscan-rpmdb-")
	if err != nil {
		return nil, nil, fmt.Errorf("%w: spool the rpm database: %w", analyzer.ErrTransient, err)
	}
	defer os.RemoveAll(dir)
	// Keep the base name: go-rpmdb picks the format by content, sqlite by file.
	f := path.Join(dir, path.Base(p))
	if err := os.WriteFile(f, content, 0o600); err != nil {
		return nil, nil, fmt.Errorf("%w: spool the rpm database: %w", analyzer.ErrTransient, err)
	}
	db, err := rpmdb.Open(f)
	if err != nil {
		return nil, nil, fmt.Errorf("open rpm database: %w", err)
	}
	defer db.Close()
	infos, err := db.ListPackages()
	if err != nil {
		return nil, nil, fmt.Errorf("read rpm database: %w", err)
	}
	pkgs := make([]scan.Package, 0, len(infos))
	var files []string
	for _, i := range infos {
		h := &header{Name: i.Name, Version: i.Version, Release: i.Release, Arch: i.Arch, SourceRPM: i.SourceRpm, Epoch: i.Epoch}
		if p := newPackage(h, p); p != nil {
			pkgs = append(pkgs, *p)
			names, _ := i.InstalledFileNames() // a package without a file list owns nothing
			files = addFiles(files, names)
		}
	}
	return pkgs, files, nil
}

func newPackage(h *header, dbPath string) *scan.Package {
	if h.Name == "gpg-pubkey" {
		return nil // imported signing keys, not software
	}
	vr := h.Version
	if h.Release != "" {
		vr += "-" + h.Release
	}
	v := vr
	if h.Epoch != nil && *h.Epoch != 0 {
		v = fmt.Sprintf("%d:%s", *h.Epoch, vr)
	}
	srcName, srcVer := splitSourceRPM(h.SourceRPM)
	pkg := &scan.Package{Name: h.Name, Version: v, Type: "rpm", Arch: h.Arch, SourceName: srcName, SourceVersion: srcVer, Path: dbPath}
	pkg.PURL = "pkg:rpm/" + url.PathEscape(h.Name) + "@" + url.PathEscape(vr)
	q := []string{}
	if h.Arch != "" {
		q = append(q, "arch="+h.Arch)
	}
	if h.Epoch != nil && *h.Epoch != 0 {
		q = append(q, fmt.Sprintf("epoch=%d", *h.Epoch))
	}
	if len(q) > 0 {
		pkg.PURL += "?" + strings.Join(q, "&")
	}
	return pkg
}

// splitSourceRPM turns "glibc-2.34-28.el9_0.src.rpm" into ("glibc", "2.34-28.el9_0").
func splitSourceRPM(s string) (string, string) {
	s = strings.TrimSuffix(s, ".rpm")
	s = strings.TrimSuffix(s, ".src")
	s = strings.TrimSuffix(s, ".nosrc")
	i := strings.LastIndex(s, "-")
	if i <= 0 {
		return s, ""
	}
	j := strings.LastIndex(s[:i], "-")
	if j <= 0 {
		return s, ""
	}
	return s[:j], s[j+1:]
}
