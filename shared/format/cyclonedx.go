package format

import (
	"fmt"
	"io"
	"sort"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
)

func cdxSeverity(s scan.Severity) cdx.Severity {
	switch s {
	case scan.Critical:
		return cdx.SeverityCritical
	case scan.High:
		return cdx.SeverityHigh
	case scan.Medium:
		return cdx.SeverityMedium
	case scan.Low:
		return cdx.SeverityLow
	}
	return cdx.SeverityUnknown
}

func cdxMethod(version string) cdx.ScoringMethod {
	switch version {
	case "2.0":
		return cdx.ScoringMethodCVSSv2
	case "3.0":
		return cdx.ScoringMethodCVSSv3
	case "3.1":
		return cdx.ScoringMethodCVSSv31
	case "4.0":
		return cdx.ScoringMethodCVSSv4
	}
	return cdx.ScoringMethodOther
}

// isVulnerability reports whether a finding is a vulnerability of a
// package (CycloneDX's vulnerabilities; other findings have no place in it).
func isVulnerability(f scan.Finding) bool {
	return f.Package != nil && (f.Category == scan.SystemVulnerability || f.Category == scan.ApplicationVulnerability || f.Category == scan.MaliciousSample)
}

// pkgKey identifies a package of a report (name, version, type, path).
func pkgKey(name, version, typ, path string) string {
	return typ + "/" + name + "@" + version + "#" + path
}

func writeCycloneDX(w io.Writer, r *report.Report) error {
	bom := cdx.NewBOM()
	bom.SpecVersion = cdx.SpecVersion1_6
	bom.Metadata = &cdx.Metadata{
		Timestamp: r.CreatedAt,
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: "layerscan", Version: r.Scanner.Version}}},
		Component: &cdx.Component{
			BOMRef: "image", Type: cdx.ComponentTypeContainer, Name: r.Image.Ref, Version: r.Image.Digest,
			Properties: &[]cdx.Property{{Name: "layerscan:platform", Value: r.Image.Platform}, {Name: "layerscan:advisoryDB", Value: r.AdvisoryDB.Version}},
		},
	}
	if r.Image.OS != nil {
		*bom.Metadata.Component.Properties = append(*bom.Metadata.Component.Properties, cdx.Property{Name: "layerscan:os", Value: r.Image.OS.Family + " " + r.Image.OS.Version})
	}
	refs := map[string]string{}
	components := []cdx.Component{}
	for i, p := range r.Packages {
		ref := fmt.Sprintf("pkg-%d", i)
		refs[pkgKey(p.Name, p.Version, p.Type, p.Path)] = ref
		c := cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version, PackageURL: p.PURL}
		props := []cdx.Property{{Name: "layerscan:type", Value: p.Type}}
		if p.Path != "" {
			props = append(props, cdx.Property{Name: "layerscan:path", Value: p.Path})
		}
		if p.LayerDiffID != "" {
			props = append(props, cdx.Property{Name: "layerscan:layer", Value: p.LayerDiffID})
		}
		c.Properties = &props
		components = append(components, c)
	}
	bom.Components = &components
	// One vulnerability per ID, affecting every package it was found in.
	byID := map[string]*cdx.Vulnerability{}
	var ids []string
	for _, f := range r.Findings {
		if !isVulnerability(f) {
			continue
		}
		v, ok := byID[f.ID]
		if !ok {
			v = &cdx.Vulnerability{BOMRef: "vuln-" + f.ID, ID: f.ID, Description: f.Title, Affects: &[]cdx.Affects{}}
			ratings := []cdx.VulnerabilityRating{{Source: &cdx.Source{Name: sourceName(f)}, Severity: cdxSeverity(f.Severity), Method: cdx.ScoringMethodOther}}
			for _, c := range f.CVSS {
				score := c.Score
				ratings = append(ratings, cdx.VulnerabilityRating{Source: &cdx.Source{Name: c.Source}, Score: &score, Severity: cdxSeverity(c.Severity), Method: cdxMethod(c.Version), Vector: c.Vector})
			}
			v.Ratings = &ratings
			if len(f.Aliases) > 0 {
				var rs []cdx.VulnerabilityReference
				for _, a := range f.Aliases {
					rs = append(rs, cdx.VulnerabilityReference{ID: a, Source: &cdx.Source{Name: "alias"}})
				}
				v.References = &rs
			}
			if f.VEXStatus != "" {
				v.Analysis = vexAnalysis(f)
			} else if f.Whitelisted {
				// A whitelisted finding is an accepted risk.
				v.Analysis = &cdx.VulnerabilityAnalysis{State: cdx.IASExploitable, Response: &[]cdx.ImpactAnalysisResponse{cdx.IARWillNotFix}, Detail: "whitelisted: " + f.WhitelistReason}
			}
			byID[f.ID] = v
			ids = append(ids, f.ID)
		}
		if f.FixedVersion != "" && v.Recommendation == "" {
			v.Recommendation = fmt.Sprintf("Upgrade %s to %s or later. %s", f.Package.Name, f.FixedVersion, f.Remediation)
		} else if f.FixNote != "" && v.Recommendation == "" {
			v.Recommendation = "No fix: " + f.FixNote
		}
		if ref, ok := refs[pkgKey(f.Package.Name, f.Package.Version, f.Package.Type, f.Path)]; ok {
			aff := cdx.Affects{Ref: ref, Range: &[]cdx.AffectedVersions{{Version: f.Package.Version, Status: cdx.VulnerabilityStatusAffected}}}
			*v.Affects = append(*v.Affects, aff)
		}
	}
	sort.Strings(ids)
	vulns := make([]cdx.Vulnerability, 0, len(ids))
	for _, id := range ids {
		if len(*byID[id].Affects) == 0 {
			byID[id].Affects = nil
		}
		vulns = append(vulns, *byID[id])
	}
	bom.Vulnerabilities = &vulns
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	return enc.EncodeVersion(bom, cdx.SpecVersion1_6)
}

func sourceName(f scan.Finding) string {
	if f.SeveritySource != "" {
		return f.SeveritySource
	}
	return "layerscan"
}

// vexAnalysis is the CycloneDX analysis of a finding a VEX statement
// suppressed; OpenVEX justifications map to CycloneDX's.
func vexAnalysis(f scan.Finding) *cdx.VulnerabilityAnalysis {
	a := &cdx.VulnerabilityAnalysis{State: cdx.IASNotAffected, Detail: f.WhitelistReason}
	if f.VEXStatus == "fixed" {
		a.State = cdx.IASResolved
	}
	j := map[string]cdx.ImpactAnalysisJustification{
		"component_not_present": cdx.IAJCodeNotPresent, "vulnerable_code_not_present": cdx.IAJCodeNotPresent,
		"vulnerable_code_not_in_execute_path": cdx.IAJCodeNotReachable, "vulnerable_code_cannot_be_controlled_by_adversary": cdx.IAJProtectedByMitigatingControl,
		"inline_mitigations_already_exist": cdx.IAJProtectedByMitigatingControl,
	}[f.VEXJustification]
	if j == "" && f.VEXStatus == "not_affected" {
		for _, known := range []cdx.ImpactAnalysisJustification{cdx.IAJCodeNotPresent, cdx.IAJCodeNotReachable, cdx.IAJRequiresConfiguration, cdx.IAJRequiresDependency, cdx.IAJRequiresEnvironment, cdx.IAJProtectedByCompiler, cdx.IAJProtectedAtRuntime, cdx.IAJProtectedAtPerimeter, cdx.IAJProtectedByMitigatingControl} {
			if string(known) == f.VEXJustification {
				j = known
			}
		}
	}
	if f.VEXStatus == "not_affected" {
		a.Justification = j
	}
	return a
}
