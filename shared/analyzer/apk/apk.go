// Package apk reads Alpine's installed database, lib/apk/db/installed.
package apk

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/scan"
)

// Kind is the artifact kind this analyzer emits.
const Kind = "apk"

// Analyzer reads apk databases.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return "apk" }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 2 }

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, _ fs.FileMode) bool {
	return p == "lib/apk/db/installed" || p == "usr/lib/apk/db/installed"
}

// Analyze implements analyzer.Analyzer.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	pkgs, files, err := ParseDB(in.Content, in.Path)
	if err != nil {
		return nil, err
	}
	return []scan.Artifact{{Path: in.Path, Kind: Kind, Packages: pkgs, Files: files}}, nil
}

// Parse lists the packages of an installed database.
func Parse(b []byte, path string) ([]scan.Package, error) {
	pkgs, _, err := ParseDB(b, path)
	return pkgs, err
}

// ParseDB reads the installed database: blank-line separated records of
// one-letter fields (P name, V version, A arch, o origin; F a directory and
// R a file in it, the package's installed files).
func ParseDB(b []byte, path string) ([]scan.Package, []string, error) {
	var pkgs []scan.Package
	var files []string
	dir := ""
	var cur scan.Package
	flush := func() {
		if cur.Name != "" && cur.Version != "" {
			cur.Type, cur.Path = "apk", path
			if cur.SourceName == "" {
				cur.SourceName = cur.Name
			}
			cur.SourceVersion = cur.Version
			cur.PURL = "pkg:apk/alpine/" + url.PathEscape(cur.Name) + "@" + url.PathEscape(cur.Version)
			if cur.Arch != "" {
				cur.PURL += "?arch=" + url.QueryEscape(cur.Arch)
			}
			pkgs = append(pkgs, cur)
		}
		cur = scan.Package{}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			dir = ""
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			return nil, nil, fmt.Errorf("%s: malformed line %q", path, line)
		}
		v := line[2:]
		switch line[0] {
		case 'P':
			cur.Name = v
		case 'V':
			cur.Version = v
		case 'A':
			cur.Arch = v
		case 'F':
			dir = v
		case 'R':
			files = append(files, dir+"/"+v)
		case 'o':
			cur.SourceName = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	flush()
	return pkgs, files, nil
}
