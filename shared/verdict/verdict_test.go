package verdict

import (
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
)

func TestEvaluate(t *testing.T) {
	ok := func(fs ...scan.Finding) *report.Report {
		return &report.Report{Complete: true, AdvisoryDB: report.AdvisoryDB{Version: "v1"}, Findings: fs}
	}
	vuln := func(sev scan.Severity, fixed string) scan.Finding {
		return scan.Finding{Category: scan.SystemVulnerability, ID: "CVE-1", Severity: sev, FixedVersion: fixed, Package: &scan.PackageRef{Name: "openssl", Version: "1"}}
	}
	secret := scan.Finding{Category: scan.SensitiveFile, ID: "LS-SECRET-PRIVATE-KEY", Severity: scan.High, Path: "/root/.ssh/id_rsa"}
	wl := secret
	wl.Whitelisted = true
	for _, tc := range []struct {
		name string
		r    *report.Report
		want string
	}{
		{"clean", ok(), Allow},
		{"fixable critical", ok(vuln(scan.Critical, "2")), Deny},
		{"unfixed critical", ok(vuln(scan.Critical, "")), Allow},
		{"fixable medium", ok(vuln(scan.Medium, "2")), Allow},
		{"a private key", ok(secret), Deny},
		{"a whitelisted private key", ok(wl), Allow},
		{"incomplete", &report.Report{AdvisoryDB: report.AdvisoryDB{Version: "v1"}, Errors: []string{"layer 1 failed"}}, Deny},
		{"not checked", &report.Report{Complete: true, Coverage: []scan.Coverage{{Ecosystem: "Debian:13", Note: "no data"}}, AdvisoryDB: report.AdvisoryDB{Version: "v1"}}, Deny},
	} {
		v := Evaluate(Default(), tc.r)
		if v.Decision != tc.want || (v.Decision == Deny) != (len(v.Reasons) > 0) {
			t.Errorf("%s: %s %v", tc.name, v.Decision, v.Reasons)
		}
	}
	p := Default()
	p.NotChecked = "allow"
	if v := Evaluate(p, &report.Report{Complete: false}); v.Decision != Allow {
		t.Errorf("notChecked allow: %v", v.Reasons)
	}
	many := ok()
	for range 50 {
		many.Findings = append(many.Findings, vuln(scan.High, "2"))
	}
	if v := Evaluate(Default(), many); len(v.Reasons) != maxReasons+1 || !strings.Contains(v.Reasons[maxReasons], "30 more") {
		t.Errorf("reasons: %d %v", len(v.Reasons), v.Reasons[len(v.Reasons)-1])
	}
}

func TestParse(t *testing.T) {
	if _, err := Parse([]byte(`{"name":"strict","denyVulnerabilities":["CRITICAL","HIGH","MEDIUM"],"denyCategories":["baseline"]}`)); err != nil {
		t.Error(err)
	}
	for _, doc := range []string{`{"name":""}`, `{"name":"x","denyCategories":["system-vulnerability"]}`, `{"name":"x","notChecked":"maybe"}`, `{"name":"x","extra":1}`} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("accepted %s", doc)
		}
	}
}
