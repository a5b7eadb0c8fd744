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
func (Analyzer) Version() int { return 2 }

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
	pkgs, err := Parse(in.Content, in.Path)
	if err != nil {
		return nil, err
	}
	return []scan.Artifact{{Path: in.Path, Kind: Kind, Packages: pkgs}}, nil
}

// Parse lists the packages of one rpm database file.
func Parse(content []byte, p string) ([]scan.Package, error) {
	dir, err := os.MkdirTemp("", "layerscan-rpmdb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// Keep the base name: go-rpmdb picks the format by content, sqlite by file.
	f := path.Join(dir, path.Base(p))
	if err := os.WriteFile(f, content, 0o600); err != nil {
		return nil, err
	}
	db, err := rpmdb.Open(f)
	if err != nil {
		return nil, fmt.Errorf("open rpm database: %w", err)
	}
	defer db.Close()
	infos, err := db.ListPackages()
	if err != nil {
		return nil, fmt.Errorf("read rpm database: %w", err)
	}
	pkgs := make([]scan.Package, 0, len(infos))
	for _, i := range infos {
		if i.Name == "gpg-pubkey" {
			continue // imported signing keys, not software
		}
		v := i.Version + "-" + i.Release
		if i.Epoch != nil && *i.Epoch != 0 {
			v = fmt.Sprintf("%d:%s", *i.Epoch, v)
		}
		srcName, srcVer := splitSourceRPM(i.SourceRpm)
		pkg := scan.Package{Name: i.Name, Version: v, Type: "rpm", Arch: i.Arch, SourceName: srcName, SourceVersion: srcVer, Path: p}
		pkg.PURL = "pkg:rpm/" + url.PathEscape(i.Name) + "@" + url.PathEscape(i.Version+"-"+i.Release)
		q := []string{}
		if i.Arch != "" {
			q = append(q, "arch="+i.Arch)
		}
		if i.Epoch != nil && *i.Epoch != 0 {
			q = append(q, fmt.Sprintf("epoch=%d", *i.Epoch))
		}
		if len(q) > 0 {
			pkg.PURL += "?" + strings.Join(q, "&")
		}
		pkgs = append(pkgs, pkg)
	}
	return pkgs, nil
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
