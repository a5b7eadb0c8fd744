package format

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/layerscan/layerscan/shared/report"
	"github.com/layerscan/layerscan/shared/scan"
)

// securitySeverity is GitHub's security-severity: the highest CVSS score
// known, else the severity as a number on the same scale.
func securitySeverity(f scan.Finding) string {
	best := -1.0
	for _, c := range f.CVSS {
		best = max(best, c.Score)
	}
	if best < 0 {
		best = map[scan.Severity]float64{scan.Critical: 9.5, scan.High: 8.0, scan.Medium: 5.5, scan.Low: 2.0}[f.Severity]
	}
	return fmt.Sprintf("%.1f", best)
}

func sarifLevel(s scan.Severity) string {
	switch s {
	case scan.Critical, scan.High:
		return "error"
	case scan.Medium:
		return "warning"
	}
	return "note"
}

// location is where a finding is in the image: the file path, else the
// package's manifest path, else the image itself.
func location(f scan.Finding) string {
	if f.Path != "" {
		return strings.TrimPrefix(f.Path, "/")
	}
	return "Dockerfile"
}

func writeSARIF(w io.Writer, r *report.Report) error {
	doc, err := sarif.New(sarif.Version210, true)
	if err != nil {
		return err
	}
	run := sarif.NewRunWithInformationURI("layerscan", "https://github.com/layerscan/layerscan")
	run.Tool.Driver.Version = &r.Scanner.Version
	for _, f := range r.Findings {
		rule := run.AddRule(f.ID)
		if rule.ShortDescription == nil {
			title := f.Title
			if title == "" {
				title = f.ID
			}
			help := f.Remediation
			if help == "" {
				help = title
			}
			rule.WithShortDescription(sarif.NewMultiformatMessageString(title)).
				WithFullDescription(sarif.NewMultiformatMessageString(title)).
				WithHelp(sarif.NewMultiformatMessageString(help).WithMarkdown(help)).
				WithProperties(sarif.Properties{"security-severity": securitySeverity(f), "tags": []string{"security", string(f.Category)}, "precision": "high"})
		}
		msg := f.Title
		if f.Package != nil {
			msg = fmt.Sprintf("%s: %s %s (%s)", f.ID, f.Package.Name, f.Package.Version, f.Title)
			if f.FixedVersion != "" {
				msg += "; fixed in " + f.FixedVersion
			}
		}
		res := run.CreateResultForRule(f.ID).WithLevel(sarifLevel(f.Severity)).WithMessage(sarif.NewTextMessage(msg))
		loc := sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewSimpleArtifactLocation(location(f))).WithRegion(sarif.NewRegion().WithStartLine(1))
		res.AddLocation(sarif.NewLocationWithPhysicalLocation(loc))
		// Stable across scans of any image holding the same thing.
		sum := sha256.Sum256([]byte(f.ID + "\x00" + location(f) + "\x00" + pkgName(f)))
		res.WithPartialFingerPrints(map[string]interface{}{"layerscan/v1": hex.EncodeToString(sum[:16])})
		props := sarif.Properties{"category": string(f.Category), "severity": string(f.Severity), "image": r.Image.Ref, "digest": r.Image.Digest}
		if f.LayerDiffID != "" {
			props["layer"] = f.LayerDiffID
		}
		res.Properties = props
		if f.Whitelisted {
			// WithJustifcation is the library's spelling.
			res.AddSuppression(sarif.NewSuppression("external").WithStatus("accepted").WithJustifcation(f.WhitelistReason))
		}
	}
	doc.AddRun(run)
	return doc.PrettyWrite(w)
}

func pkgName(f scan.Finding) string {
	if f.Package == nil {
		return ""
	}
	return f.Package.Type + "/" + f.Package.Name + "@" + f.Package.Version
}
