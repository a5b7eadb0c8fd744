package format

import (
	"fmt"
	"io"
	"regexp"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/layerscan/layerscan/shared/report"
)

// spdxIDChars are what an SPDX identifier may hold.
var spdxIDChars = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func writeSPDX(w io.Writer, r *report.Report) error {
	image := &spdx.Package{
		PackageName: r.Image.Ref, PackageSPDXIdentifier: "Image", PackageVersion: r.Image.Digest,
		PackageDownloadLocation: "NOASSERTION", FilesAnalyzed: false, PackageCopyrightText: "NOASSERTION",
		PackageLicenseConcluded: "NOASSERTION", PackageLicenseDeclared: "NOASSERTION",
		PrimaryPackagePurpose: "CONTAINER",
	}
	doc := &spdx.Document{
		SPDXVersion: spdx.Version, DataLicense: spdx.DataLicense, SPDXIdentifier: "DOCUMENT",
		DocumentName:      r.Image.Ref,
		DocumentNamespace: "https://layerscan.dev/spdx/" + r.Image.Digest + "/" + r.AdvisoryDB.Version,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "layerscan-" + r.Scanner.Version}},
			Created:  r.CreatedAt,
		},
		Packages: []*spdx.Package{image},
		Relationships: []*spdx.Relationship{{
			RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", "Image"), Relationship: "DESCRIBES",
		}},
	}
	for i, p := range r.Packages {
		id := common.ElementID(fmt.Sprintf("Package-%d-%s", i, spdxIDChars.ReplaceAllString(p.Name, "-")))
		pkg := &spdx.Package{
			PackageName: p.Name, PackageSPDXIdentifier: id, PackageVersion: p.Version,
			PackageDownloadLocation: "NOASSERTION", FilesAnalyzed: false, PackageCopyrightText: "NOASSERTION",
			PackageLicenseConcluded: "NOASSERTION", PackageLicenseDeclared: "NOASSERTION",
			PackageSourceInfo: fmt.Sprintf("%s package at %s, layer %s", p.Type, p.Path, p.LayerDiffID),
		}
		if p.PURL != "" {
			pkg.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: p.PURL}}
		}
		doc.Packages = append(doc.Packages, pkg)
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", "Image"), RefB: common.MakeDocElementID("", string(id)), Relationship: "CONTAINS",
		})
	}
	return spdxjson.Write(doc, w, spdxjson.Indent("  "))
}
