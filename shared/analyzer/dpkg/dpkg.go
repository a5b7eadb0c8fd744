// Package dpkg reads the Debian package database: /var/lib/dpkg/status and
// the per-package files of distroless images under /var/lib/dpkg/status.d/.
package dpkg

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/scan"
)

// Kind is the artifact kind this analyzer emits.
const Kind = "dpkg"

// Analyzer reads dpkg databases.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return "dpkg" }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 2 }

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, _ fs.FileMode) bool {
	if p == "var/lib/dpkg/status" {
		return true
	}
	if rest, ok := strings.CutPrefix(p, "var/lib/dpkg/info/"); ok {
		return strings.HasSuffix(rest, ".list") && !strings.Contains(rest, "/")
	}
	if rest, ok := strings.CutPrefix(p, "var/lib/dpkg/status.d/"); ok {
		// distroless also ships <pkg>.md5sums beside each record
		return rest != "" && !strings.Contains(rest, "/") && !strings.HasSuffix(rest, ".md5sums")
	}
	return false
}

// Analyze implements analyzer.Analyzer.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	if strings.HasSuffix(in.Path, ".list") {
		return []scan.Artifact{{Path: in.Path, Kind: Kind, Files: ParseList(in.Content)}}, nil
	}
	pkgs, err := Parse(in.Content, in.Path)
	if err != nil {
		return nil, err
	}
	return []scan.Artifact{{Path: in.Path, Kind: Kind, Packages: pkgs}}, nil
}

// ParseList reads info/<pkg>.list, the files one package installed, one
// absolute path per line; they are returned relative to the root.
func ParseList(b []byte) []string {
	var files []string
	for _, line := range strings.Split(string(b), "\n") {
		if p := strings.TrimPrefix(strings.TrimSpace(line), "/"); p != "" && p != "." {
			files = append(files, p)
		}
	}
	return files
}

// Parse reads a status file: paragraphs of RFC 822 fields. Only installed
// packages count ("install ok installed", or no Status field in status.d).
func Parse(b []byte, path string) ([]scan.Package, error) {
	var pkgs []scan.Package
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	para := map[string]string{}
	flush := func() {
		defer func() { para = map[string]string{} }()
		name, ver := para["Package"], para["Version"]
		if name == "" || ver == "" {
			return
		}
		if st, ok := para["Status"]; ok && !strings.HasSuffix(strings.TrimSpace(st), " installed") {
			return
		}
		src, srcVer := name, ver
		if s := para["Source"]; s != "" {
			// "Source: glibc" or "Source: util-linux (2.39.3-9ubuntu6)"
			n, v, ok := strings.Cut(s, "(")
			src = strings.TrimSpace(n)
			if ok {
				srcVer = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), ")"))
			}
		}
		p := scan.Package{
			Name: name, Version: ver, Type: "deb", Arch: para["Architecture"],
			SourceName: src, SourceVersion: srcVer, Path: path,
		}
		p.PURL = PURL("debian", p)
		pkgs = append(pkgs, p)
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // continuation lines of long fields (Description, Conffiles)
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s: malformed line %q", path, truncate(line))
		}
		para[k] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	flush()
	return pkgs, nil
}

// PURL renders pkg:deb/<namespace>/<name>@<version>?arch=…; namespace is the distro ID.
func PURL(namespace string, p scan.Package) string {
	s := "pkg:deb/" + namespace + "/" + url.PathEscape(p.Name) + "@" + url.PathEscape(p.Version)
	q := []string{}
	if p.Arch != "" {
		q = append(q, "arch="+url.QueryEscape(p.Arch))
	}
	if p.SourceName != "" && p.SourceName != p.Name {
		q = append(q, "upstream="+url.QueryEscape(p.SourceName))
	}
	if len(q) > 0 {
		s += "?" + strings.Join(q, "&")
	}
	return s
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
