package vex

import (
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/scan"
)

func TestTargetNames(t *testing.T) {
	d := "sha256:" + "ab"
	tg := Target{Digest: d, Ref: "r.example/app:1"}
	for p, want := range map[string]bool{
		d: true, "pkg:oci/app@sha256%3Aab": true, "pkg:oci/app@sha256:ab?repository_url=r.example": true,
		"r.example/app:1": true, "pkg:oci/app@sha256:cd": false, "": false, "pkg:npm/lodash@1": false,
	} {
		if got := tg.names(p); got != want {
			t.Errorf("%q: %v", p, got)
		}
	}
}

// TestApplyFirstStatementWins: of the statements about a finding (by its
// ID or an alias) on this image, the first in order that suppresses and
// whose subcomponents, if any, name the package decides.
func TestApplyFirstStatementWins(t *testing.T) {
	img := []string{"sha256:ab"}
	for _, c := range []struct {
		name   string
		stmts  []Statement
		status string // "" when not suppressed
		source string
	}{
		{"by alias before by id", []Statement{
			{Vulnerability: "GHSA-1", Aliases: []string{"CVE-1"}, Products: img, Status: NotAffected, Source: "a"},
			{Vulnerability: "CVE-1", Products: img, Status: Fixed, Source: "b"},
		}, NotAffected, "a"},
		{"by id before by alias", []Statement{
			{Vulnerability: "CVE-1", Products: img, Status: Fixed, Source: "b"},
			{Vulnerability: "GHSA-1", Products: img, Status: NotAffected, Source: "a"},
		}, Fixed, "b"},
		{"another image", []Statement{{Vulnerability: "CVE-1", Products: []string{"sha256:cd"}, Status: NotAffected}}, "", ""},
		{"affected does not suppress", []Statement{{Vulnerability: "CVE-1", Products: img, Status: "affected"}}, "", ""},
		{"another subcomponent, then this one", []Statement{
			{Vulnerability: "CVE-1", Products: img, Subcomponents: []string{"pkg:npm/y@1"}, Status: NotAffected, Source: "a"},
			{Vulnerability: "CVE-1", Products: img, Subcomponents: []string{"pkg:npm/x@1"}, Status: Fixed, Source: "b"},
		}, Fixed, "b"},
	} {
		fs := []scan.Finding{{ID: "CVE-1", Aliases: []string{"GHSA-1"}, Package: &scan.PackageRef{Name: "x", Version: "1", Type: "npm"}}}
		Apply(c.stmts, Target{Digest: "sha256:ab"}, fs, func(scan.Finding) string { return "pkg:npm/x@1" })
		if fs[0].VEXStatus != c.status || fs[0].Whitelisted != (c.status != "") || c.source != "" && !strings.HasSuffix(fs[0].WhitelistReason, "from "+c.source) {
			t.Errorf("%s: %+v", c.name, fs[0])
		}
	}
}

// FuzzParse: any document either fails or yields statements that apply
// without panicking.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"sha256:ab","subcomponents":[{"@id":"pkg:npm/x@1"}]}],"status":"not_affected","justification":"component_not_present"}]}`))
	f.Add([]byte(`{"bomFormat":"CycloneDX","metadata":{"component":{"bom-ref":"i","purl":"pkg:oci/a@sha256:ab"}},"components":[{"bom-ref":"c","purl":"pkg:npm/x@1"}],"vulnerabilities":[{"id":"CVE-1","analysis":{"state":"resolved"},"affects":[{"ref":"c"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		stmts, err := Parse(data, "fuzz")
		if err != nil {
			return
		}
		fs := []scan.Finding{{ID: "CVE-1", Package: &scan.PackageRef{Name: "x", Version: "1", Type: "npm"}}}
		Apply(stmts, Target{Digest: "sha256:ab"}, fs, func(scan.Finding) string { return "pkg:npm/x@1" })
		if fs[0].Whitelisted && fs[0].VEXStatus != NotAffected && fs[0].VEXStatus != Fixed {
			t.Fatalf("suppressed with status %q", fs[0].VEXStatus)
		}
	})
}
