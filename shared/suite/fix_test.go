package suite

import (
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/fix"
	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
)

func TestVerify(t *testing.T) {
	vuln := func(id, pkg, fixed string) scan.Finding {
		return scan.Finding{Category: scan.SystemVulnerability, ID: id, Package: &scan.PackageRef{Name: pkg, Type: "deb"}, FixedVersion: fixed}
	}
	pkgs := func(vs ...string) []scan.Package {
		var out []scan.Package
		for i := 0; i+1 < len(vs); i += 2 {
			out = append(out, scan.Package{Name: vs[i], Version: vs[i+1], Type: "deb"})
		}
		return out
	}
	orig := &report.Report{Complete: true, Packages: pkgs("libssl3", "3.0.20", "zlib1g", "1.2"),
		Findings: []scan.Finding{vuln("CVE-1", "libssl3", "3.0.22"), vuln("CVE-2", "zlib1g", ""), vuln("CVE-3", "tar", "1.35")}}
	res := &fix.Result{Upgrades: []fix.Upgrade{{Package: "libssl3", From: "3.0.20", To: "3.0.22", Findings: []string{"CVE-1"}}},
		Refused: []fix.Refused{{Package: "tar", Reason: "tar 1.35 needs libacl1 (>= 9)"}}}
	for _, tc := range []struct {
		name    string
		fixed   *report.Report
		ok      bool
		problem string
	}{
		{"fixed", &report.Report{Complete: true, Packages: pkgs("libssl3", "3.0.22", "zlib1g", "1.2"), Findings: []scan.Finding{vuln("CVE-2", "zlib1g", ""), vuln("CVE-3", "tar", "1.35")}}, true, ""},
		{"incomplete rescan", &report.Report{Complete: false, Errors: []string{"layer 5: corrupt"}, Packages: pkgs("libssl3", "3.0.22", "zlib1g", "1.2")}, false, "incomplete"},
		{"still vulnerable", &report.Report{Complete: true, Packages: pkgs("libssl3", "3.0.22", "zlib1g", "1.2"), Findings: []scan.Finding{vuln("CVE-1", "libssl3", "3.0.23")}}, false, "still reported"},
		{"version not installed", &report.Report{Complete: true, Packages: pkgs("libssl3", "3.0.20", "zlib1g", "1.2")}, false, "not 3.0.22"},
		{"database broken", &report.Report{Complete: true, Packages: pkgs("libssl3", "3.0.22")}, false, "OS packages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := verify(orig, tc.fixed, res)
			if v.OK != tc.ok || (tc.problem != "" && !strings.Contains(strings.Join(v.Problems, "; "), tc.problem)) {
				t.Fatalf("%+v", v)
			}
			if tc.ok {
				why := map[string]string{}
				for _, r := range v.Remaining {
					why[r.ID] = r.Reason
				}
				if strings.Join(v.Gone, ",") != "CVE-1 (libssl3)" || why["CVE-2"] != "no fixed version" || !strings.Contains(why["CVE-3"], "needs libacl1") {
					t.Errorf("gone %v, remaining %+v", v.Gone, v.Remaining)
				}
			}
		})
	}
}
