package checks

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/scan"
)

// TestCatalogListsEveryCheck: every check ID the analyzers emit is in the
// catalog, so that settings can name it and validation knows it.
func TestCatalogListsEveryCheck(t *testing.T) {
	id := regexp.MustCompile(`"(LS-(?:BASELINE|BUILD|SECRET)-[A-Z0-9-]+)"`)
	all := slices.Concat(Baseline, Build, SensitiveFiles)
	found := 0
	filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.Contains(p, "checks") {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, m := range id.FindAllStringSubmatch(string(b), -1) {
			found++
			if !slices.Contains(all, m[1]) {
				t.Errorf("%s: %s is not in the catalog", p, m[1])
			}
		}
		return nil
	})
	if found < 40 {
		t.Errorf("only %d check IDs found in the analyzers", found)
	}
}

func TestSelection(t *testing.T) {
	f := func(c scan.Category, id string) scan.Finding { return scan.Finding{Category: c, ID: id} }
	ak := f(scan.SensitiveFile, "LS-SECRET-ALIBABA-AK")
	pw := f(scan.SensitiveFile, "LS-SECRET-CONFIG-PASSWORD")
	pk := f(scan.SensitiveFile, "LS-SECRET-PRIVATE-KEY")
	suid := f(scan.Baseline, "LS-BASELINE-SUID")
	mal := f(scan.MaliciousSample, "LS-MALWARE-EICAR")
	cve := f(scan.SystemVulnerability, "CVE-2024-1")
	for _, tc := range []struct {
		name  string
		edit  func(*Selection)
		keeps []scan.Finding
		drops []scan.Finding
	}{
		{"default", func(*Selection) {}, []scan.Finding{ak, pw, pk, suid, mal, cve}, nil},
		{"no AK", func(s *Selection) { s.AccessKeyLeak = false }, []scan.Finding{pw, pk, cve}, []scan.Finding{ak}},
		{"no password", func(s *Selection) { s.PasswordLeak = false }, []scan.Finding{ak, pk}, []scan.Finding{pw}},
		{"no sensitive files", func(s *Selection) { s.SensitiveFiles = false }, []scan.Finding{suid, cve}, []scan.Finding{ak, pw, pk}},
		{"one item off", func(s *Selection) { s.DisabledSensitiveItems = []string{"LS-SECRET-PRIVATE-KEY"} }, []scan.Finding{ak}, []scan.Finding{pk}},
		{"a baseline check off", func(s *Selection) { s.DisabledChecks = []string{"LS-BASELINE-SUID"} }, []scan.Finding{mal}, []scan.Finding{suid}},
		{"no malware", func(s *Selection) { s.MaliciousSamples = false }, []scan.Finding{cve}, []scan.Finding{mal}},
	} {
		s := Default()
		tc.edit(&s)
		for _, k := range tc.keeps {
			if !s.Keeps(k) {
				t.Errorf("%s: dropped %s", tc.name, k.ID)
			}
		}
		for _, d := range tc.drops {
			if s.Keeps(d) {
				t.Errorf("%s: kept %s", tc.name, d.ID)
			}
		}
		if (s.Fingerprint() == "") != (tc.name == "default") {
			t.Errorf("%s: fingerprint %q", tc.name, s.Fingerprint())
		}
	}
}

func TestValidateNamesTheField(t *testing.T) {
	s := Default()
	s.DisabledChecks = []string{"LS-BASELINE-SUID", "LS-NOPE"}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "disabledChecks[1]") {
		t.Errorf("%v", err)
	}
	s = Default()
	s.DisabledSensitiveItems = []string{"LS-BASELINE-SUID"}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "disabledSensitiveItems[0]") {
		t.Errorf("%v", err)
	}
}
