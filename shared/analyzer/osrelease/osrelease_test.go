package osrelease

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/layerscan/layerscan/shared/scan"
	"github.com/layerscan/layerscan/shared/squash"
)

func TestDetect(t *testing.T) {
	kv := func(p, s string) scan.Artifact { return scan.Artifact{Path: p, Kind: Kind, Fields: ParseKV([]byte(s))} }
	line := func(p, s string) scan.Artifact {
		return scan.Artifact{Path: p, Kind: Kind, Fields: map[string]string{"line": s}}
	}
	cases := []struct {
		name            string
		arts            []scan.Artifact
		family, version string
	}{
		{"debian point release", []scan.Artifact{kv("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"), line("etc/debian_version", "12.15")}, "debian", "12.15"},
		{"usr/lib fallback", []scan.Artifact{kv("usr/lib/os-release", "ID=\"sles\"\nVERSION_ID=\"15.3\"\n")}, "sles", "15.3"},
		{"alpine release file only", []scan.Artifact{line("etc/alpine-release", "3.9.0")}, "alpine", "3.9.0"},
		{"redhat-release only", []scan.Artifact{line("etc/redhat-release", "Red Hat Enterprise Linux release 8.8 (Ootpa)")}, "rhel", "8.8"},
		{"centos via redhat-release", []scan.Artifact{line("etc/redhat-release", "CentOS Linux release 7.9.2009 (Core)")}, "centos", "7.9.2009"},
		{"amazon system-release", []scan.Artifact{line("etc/system-release", "Amazon Linux release 2 (Karoo)")}, "amzn", "2"},
		{"mariner", []scan.Artifact{line("etc/mariner-release", "CBL-Mariner 2.0.20220226")}, "mariner", "2.0.20220226"},
	}
	for _, c := range cases {
		m := map[string]scan.Artifact{}
		for _, a := range c.arts {
			m[squash.Key(a.Path, a.Kind)] = a
		}
		os := Detect(m)
		if os == nil || os.Family != c.family || os.Version != c.version {
			t.Errorf("%s: %+v, want %s %s", c.name, os, c.family, c.version)
		}
	}
	if Detect(map[string]scan.Artifact{}) != nil {
		t.Error("detected an OS from nothing")
	}
}

func FuzzParseKV(f *testing.F) {
	f.Add([]byte("ID=\"x\"\nVERSION_ID='1'\n# c\n"))
	f.Fuzz(func(t *testing.T, b []byte) { ParseKV(b) })
}

func TestValuesAreBounded(t *testing.T) {
	long := strings.Repeat("é", 5000)
	f := ParseKV([]byte("ID=debian\nVERSION_CODENAME=" + long + "\n"))
	if len(f["VERSION_CODENAME"]) > 256 || !utf8.ValidString(f["VERSION_CODENAME"]) || f["ID"] != "debian" {
		t.Errorf("codename of %d bytes, valid UTF-8 %v", len(f["VERSION_CODENAME"]), utf8.ValidString(f["VERSION_CODENAME"]))
	}
}
