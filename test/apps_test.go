package test

import (
	"sort"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/scan"
)

// appSet lists "type name version" of every language package of a report.
func appSet(pkgs []scan.Package) []string {
	var out []string
	for _, p := range pkgs {
		if p.Type != "deb" && p.Type != "apk" && p.Type != "rpm" {
			out = append(out, p.Type+" "+p.Name+" "+p.Version)
		}
	}
	sort.Strings(out)
	return out
}

// TestCorpusApplicationPackages checks the application packages and
// matches that EXPECTED.md lists in prose for the Debian and Alpine images.
func TestCorpusApplicationPackages(t *testing.T) {
	db := advisoryStore(t)
	goIDs := []string{"GO-2021-0113", "GO-2022-1059", "GO-2026-5970"}
	cases := []struct {
		image string
		layer int
		pkgs  []string
		// vulns maps "name ID" to the category the finding must have.
		vulns map[string]scan.Category
	}{
		{
			image: "debian-bookworm-app", layer: 2,
			pkgs: []string{
				"npm lodash 4.17.15", "npm minimist 1.2.0", "npm node-fetch 2.6.0", "npm flatmap-stream 0.1.1",
				"golang golang.org/x/text v0.3.5", "golang stdlib 1.26.8",
				"pypi urllib3 1.26.12", "pypi requests 2.28.1", "pypi Jinja2 3.1.2", "pypi PyYAML 6.0", "pypi PyYAML 5.3.1",
			},
			vulns: map[string]scan.Category{
				"lodash GHSA-p6mc-m468-83gw": scan.ApplicationVulnerability, "lodash GHSA-35jh-r3h4-6jhm": scan.ApplicationVulnerability,
				"minimist GHSA-vh95-rmgr-6w4m": scan.ApplicationVulnerability, "minimist GHSA-xvch-5gv4-984h": scan.ApplicationVulnerability,
				"node-fetch GHSA-r683-j2x4-v87g": scan.ApplicationVulnerability,
				"flatmap-stream MAL-2025-20690":  scan.MaliciousSample,
				"urllib3 PYSEC-2023-192":         scan.ApplicationVulnerability, "urllib3 PYSEC-2023-212": scan.ApplicationVulnerability,
				"requests PYSEC-2023-74": scan.ApplicationVulnerability,
				"PyYAML PYSEC-2021-142":  scan.ApplicationVulnerability,
			},
		},
		{
			image: "alpine-3.9-app.tar", layer: 1,
			pkgs:  []string{"golang golang.org/x/text v0.3.5", "golang stdlib 1.26.8"},
			vulns: map[string]scan.Category{},
		},
	}
	for _, id := range goIDs {
		for _, c := range cases {
			c.vulns["golang.org/x/text "+id] = scan.ApplicationVulnerability
		}
	}
	for _, c := range cases {
		t.Run(c.image, func(t *testing.T) {
			r := scanImage(t, db, corpusImage(t, c.image))
			diffSets(t, "application packages", appSet(r.Packages), c.pkgs)
			layer := r.Layers[c.layer].DiffID
			for _, p := range r.Packages {
				if p.Type != "deb" && p.Type != "apk" && p.LayerDiffID != layer {
					t.Errorf("%s %s attributed to %s, want layer %d", p.Type, p.Name, p.LayerDiffID, c.layer)
				}
			}
			got := map[string]scan.Category{}
			for _, f := range r.Findings {
				if f.Package == nil || f.Category != scan.ApplicationVulnerability && f.Category != scan.MaliciousSample {
					continue // malware files and other findings have no package
				}
				k := f.Package.Name + " " + f.ID
				if _, dup := got[k]; dup {
					t.Errorf("%s reported twice (aliases not merged?)", k)
				}
				got[k] = f.Category
				if f.LayerDiffID != layer || f.Path == "" {
					t.Errorf("%s: layer %s path %q, want layer %d and a path", k, f.LayerDiffID, f.Path, c.layer)
				}
				if f.Remediation == "" {
					t.Errorf("%s has no remediation", k)
				}
				if f.Category == scan.ApplicationVulnerability && f.Status == "fixed" && !strings.Contains(f.Remediation, f.FixedVersion) {
					t.Errorf("%s: remediation %q does not name the fixed version %s", k, f.Remediation, f.FixedVersion)
				}
			}
			for k, cat := range c.vulns {
				if g, ok := got[k]; !ok {
					t.Errorf("missing %s", k)
				} else if g != cat {
					t.Errorf("%s: category %s, want %s", k, g, cat)
				}
			}
			for k := range got {
				if _, ok := c.vulns[k]; !ok {
					t.Errorf("unexpected %s", k)
				}
			}
		})
	}
}

// TestSmallestFixedVersionAboveInstalled: lodash 4.17.15 is fixed by
// GHSA-p6mc-m468-83gw in 4.17.20 and node-fetch 2.6.0 by GHSA-r683 in 2.6.7
// (the record also lists a 3.1.1 fix for the 3.x line).
func TestSmallestFixedVersionAboveInstalled(t *testing.T) {
	r := scanImage(t, advisoryStore(t), corpusImage(t, "debian-bookworm-app"))
	want := map[string]string{
		"lodash GHSA-p6mc-m468-83gw": "4.17.20", "lodash GHSA-35jh-r3h4-6jhm": "4.17.21",
		"node-fetch GHSA-r683-j2x4-v87g": "2.6.7", "minimist GHSA-xvch-5gv4-984h": "1.2.6",
		"urllib3 PYSEC-2023-192": "1.26.17", "golang.org/x/text GO-2021-0113": "0.3.7",
	}
	got := map[string]string{}
	for _, f := range r.Findings {
		if f.Package != nil {
			got[f.Package.Name+" "+f.ID] = f.FixedVersion
		}
	}
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: not reported", k)
		} else if g != w {
			t.Errorf("%s: fixed %s, want %s", k, g, w)
		}
	}
}
