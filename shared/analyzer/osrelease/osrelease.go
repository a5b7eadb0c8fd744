// Package osrelease reads os-release and the distro release files, and
// detects the image's OS from the squashed set of them.
package osrelease

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/layerscan/layerscan/shared/analyzer"
	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/squash"
)

// Kind is the artifact kind this analyzer emits.
const Kind = "os-release"

// osReleasePaths are read as KEY=value files, in priority order.
var osReleasePaths = []string{"etc/os-release", "usr/lib/os-release"}

// releaseFiles map a distro release file to the family it names, in the
// order they are tried when no os-release exists. Their first line is kept.
var releaseFiles = []struct{ path, family string }{
	{"etc/alpine-release", "alpine"},
	{"etc/almalinux-release", "almalinux"},
	{"etc/rocky-release", "rocky"},
	{"etc/oracle-release", "ol"},
	{"etc/centos-release", "centos"},
	{"etc/fedora-release", "fedora"},
	{"etc/mariner-release", "mariner"},
	{"etc/azurelinux-release", "azurelinux"},
	{"etc/system-release", ""}, // amazon and others: family from the text
	{"etc/redhat-release", ""},
	{"etc/SuSE-release", "sles"},
	{"etc/lsb-release", ""},
	{"etc/debian_version", "debian"},
}

// Analyzer reads OS identification files.
type Analyzer struct{}

var _ analyzer.Analyzer = Analyzer{}

// Name implements analyzer.Analyzer.
func (Analyzer) Name() string { return "osrelease" }

// Version implements analyzer.Analyzer.
func (Analyzer) Version() int { return 1 }

// Wants implements analyzer.Analyzer.
func (Analyzer) Wants(p string, _ fs.FileMode) bool {
	for _, q := range osReleasePaths {
		if p == q {
			return true
		}
	}
	for _, r := range releaseFiles {
		if p == r.path {
			return true
		}
	}
	return false
}

// Analyze implements analyzer.Analyzer.
func (Analyzer) Analyze(_ context.Context, in analyzer.Input) ([]scan.Artifact, error) {
	content := in.Content
	if len(content) > 64<<10 {
		content = content[:64<<10]
	}
	fields := map[string]string{}
	if strings.HasSuffix(in.Path, "os-release") || in.Path == "etc/lsb-release" {
		fields = ParseKV(content)
	} else {
		line, _, _ := bytes.Cut(content, []byte("\n"))
		fields["line"] = bound(strings.TrimSpace(string(line)))
		// SuSE-release carries VERSION = 12 / PATCHLEVEL = 3 on later lines.
		for k, v := range ParseKV(content) {
			fields[k] = v
		}
	}
	return []scan.Artifact{{Path: in.Path, Kind: Kind, Fields: fields}}, nil
}

// ParseKV parses os-release syntax: KEY=value with optional quotes.
func ParseKV(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		v = strings.ReplaceAll(v, `\"`, `"`)
		if len(out) >= maxFields || len(k) > maxValue {
			continue
		}
		out[k] = bound(v)
	}
	return out
}

// Bounds on what an os-release file may put in a report: real values
// are a few dozen characters.
const (
	maxValue  = 256
	maxFields = 64
)

func bound(v string) string {
	if len(v) <= maxValue {
		return v
	}
	cut := maxValue
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut]
}

var versionRe = regexp.MustCompile(`\d+(\.\d+)*`)

// Detect returns the OS named by the squashed os artifacts (keyed by path),
// or nil when none identifies one.
func Detect(arts map[string]scan.Artifact) *scan.OS {
	for _, p := range osReleasePaths {
		a, ok := arts[squash.Key(p, Kind)]
		if !ok || a.Fields["ID"] == "" {
			continue
		}
		os := &scan.OS{
			Family:   normalizeID(a.Fields["ID"]),
			Version:  a.Fields["VERSION_ID"],
			Name:     a.Fields["PRETTY_NAME"],
			Codename: a.Fields["VERSION_CODENAME"],
		}
		if os.Name == "" {
			os.Name = a.Fields["NAME"]
		}
		// Debian's os-release says "12"; debian_version has the point release.
		if dv, ok := arts[squash.Key("etc/debian_version", Kind)]; ok && os.Family == "debian" {
			if v := dv.Fields["line"]; strings.HasPrefix(v, os.Version+".") || os.Version == "" {
				os.Version = v
			}
		}
		if av, ok := arts[squash.Key("etc/alpine-release", Kind)]; ok && os.Family == "alpine" && os.Version == "" {
			os.Version = av.Fields["line"]
		}
		return os
	}
	for _, r := range releaseFiles {
		a, ok := arts[squash.Key(r.path, Kind)]
		if !ok {
			continue
		}
		if r.path == "etc/lsb-release" {
			if id := a.Fields["DISTRIB_ID"]; id != "" {
				return &scan.OS{Family: normalizeID(id), Version: a.Fields["DISTRIB_RELEASE"], Codename: a.Fields["DISTRIB_CODENAME"], Name: a.Fields["DISTRIB_DESCRIPTION"]}
			}
			continue
		}
		line := a.Fields["line"]
		family := r.family
		if family == "" {
			family = familyFromText(line)
		}
		if family == "" {
			continue
		}
		v := versionRe.FindString(line)
		if family == "sles" && a.Fields["VERSION"] != "" {
			v = a.Fields["VERSION"]
			if pl := a.Fields["PATCHLEVEL"]; pl != "" {
				v += "." + pl
			}
		}
		if family == "debian" && v == "" {
			v = line // testing/sid: "bookworm/sid"
		}
		return &scan.OS{Family: family, Version: v, Name: line}
	}
	return nil
}

func familyFromText(s string) string {
	l := strings.ToLower(s)
	switch {
	case strings.Contains(l, "amazon linux"):
		return "amzn"
	case strings.Contains(l, "centos"):
		return "centos"
	case strings.Contains(l, "almalinux"):
		return "almalinux"
	case strings.Contains(l, "rocky"):
		return "rocky"
	case strings.Contains(l, "oracle"):
		return "ol"
	case strings.Contains(l, "fedora"):
		return "fedora"
	case strings.Contains(l, "red hat"):
		return "rhel"
	}
	return ""
}

func normalizeID(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	switch id {
	case "opensuse", "opensuse-leap":
		return "opensuse-leap"
	case "sles_sap", "sled":
		return "sles"
	case "redhatenterpriseserver", "redhat":
		return "rhel"
	}
	return id
}
