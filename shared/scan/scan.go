// Package scan holds the core types every other package shares: packages,
// findings, layer facts, scan requests. It imports nothing of ours.
package scan

import (
	"fmt"
	"strings"
)

// Severity of a finding.
type Severity string

// The five severities, highest first.
const (
	Critical Severity = "CRITICAL"
	High     Severity = "HIGH"
	Medium   Severity = "MEDIUM"
	Low      Severity = "LOW"
	Unknown  Severity = "UNKNOWN"
)

// Severities lists every severity, highest first.
var Severities = []Severity{Critical, High, Medium, Low, Unknown}

// Rank orders severities: Critical is 4, Unknown 0.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 4
	case High:
		return 3
	case Medium:
		return 2
	case Low:
		return 1
	}
	return 0
}

// ParseSeverity accepts any case; "" and unknown words are an error.
func ParseSeverity(s string) (Severity, error) {
	up := Severity(strings.ToUpper(strings.TrimSpace(s)))
	for _, v := range Severities {
		if v == up {
			return v, nil
		}
	}
	return "", fmt.Errorf("unknown severity %q (want one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN)", s)
}

// Category is one of the six risk categories of ../shared/DESIGN.md.
type Category string

// The six categories.
const (
	SystemVulnerability      Category = "system-vulnerability"
	ApplicationVulnerability Category = "application-vulnerability"
	Baseline                 Category = "baseline"
	MaliciousSample          Category = "malicious-sample"
	SensitiveFile            Category = "sensitive-file"
	BuildInstruction         Category = "build-instruction"
)

// InBlob is true for categories whose risk ships with a layer's bytes: a
// secret or a malware sample deleted by a later layer is still in the image.
func (c Category) InBlob() bool { return c == SensitiveFile || c == MaliciousSample }

// Categories lists the six categories in report order.
var Categories = []Category{SystemVulnerability, ApplicationVulnerability, Baseline, MaliciousSample, SensitiveFile, BuildInstruction}

// Package is one installed package, OS or application.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Type is the purl type: deb, apk, rpm, golang, npm, pypi, …
	Type          string `json:"type"`
	SourceName    string `json:"sourceName,omitempty"`
	SourceVersion string `json:"sourceVersion,omitempty"`
	Arch          string `json:"arch,omitempty"`
	PURL          string `json:"purl,omitempty"`
	// Path is the file the package was read from (package database, lockfile, binary).
	Path        string `json:"path"`
	LayerDiffID string `json:"layerDiffID,omitempty"`
	// Lockfile marks a package declared by a lockfile or requirements file
	// rather than seen installed; the report drops it when the same version
	// is installed inside the same project.
	Lockfile bool `json:"lockfile,omitempty"`
}

// IsOS tells packages of the OS package manager from language packages.
func (p Package) IsOS() bool { return p.Type == "deb" || p.Type == "apk" || p.Type == "rpm" }

// Key identifies a package instance within one database file.
func (p Package) Key() string { return p.Type + "\x00" + p.Name + "\x00" + p.Version + "\x00" + p.Arch }

// PackageRef is the short form of a package inside a finding.
type PackageRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Type    string `json:"type"`
}

// Finding is one risk of any category.
type Finding struct {
	Category Category `json:"category"`
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases,omitempty"`
	Severity Severity `json:"severity"`
	// SeveritySource says whose rating Severity is: the distribution's
	// (Debian, Ubuntu, AlmaLinux, Mariner OVAL, …), GHSA, OSV, or NVD (or a
	// CNA through NVD) when the advisory has none of its own.
	SeveritySource string `json:"severitySource,omitempty"`
	// CVSS lists the scores known for the vulnerability (from NVD).
	CVSS         []CVSS      `json:"cvss,omitempty"`
	Title        string      `json:"title"`
	Package      *PackageRef `json:"package,omitempty"`
	FixedVersion string      `json:"fixedVersion,omitempty"`
	// Status is fixed (a fix exists), unfixed (no fix yet) or "" for non-vulnerability findings.
	Status string `json:"status,omitempty"`
	// FixNote says of an unfixed finding whether a fix is planned, as the
	// vendor says ("the vendor will not fix it (Will not fix)").
	FixNote     string `json:"fixNote,omitempty"`
	Path        string `json:"path,omitempty"`
	LayerDiffID string `json:"layerDiffID,omitempty"`
	Remediation string `json:"remediation,omitempty"`
	// Fixable says how a vulnerability is fixed: image (layerscan builds a
	// fixed image), commands (apply Remediation), none (no fixed version).
	Fixable     string `json:"fixable,omitempty"`
	Whitelisted bool   `json:"whitelisted"`
	// VEXStatus and VEXJustification are the VEX statement that suppressed
	// the finding (not_affected, fixed), which also marks it whitelisted.
	VEXStatus        string `json:"vexStatus,omitempty"`
	VEXJustification string `json:"vexJustification,omitempty"`
	// WhitelistReason is the accepting rule's reason.
	WhitelistReason string `json:"whitelistReason,omitempty"`
	// Evidence is a masked excerpt or a history line; never a whole secret.
	Evidence string `json:"evidence,omitempty"`
}

// CVSS is one CVSS score of a vulnerability.
type CVSS struct {
	Version  string   `json:"version"`
	Vector   string   `json:"vector"`
	Score    float64  `json:"score"`
	Severity Severity `json:"severity,omitempty"`
	Source   string   `json:"source"`
}

// OS is the detected operating system of an image.
type OS struct {
	// Family is the os-release ID: debian, ubuntu, alpine, rhel, centos, almalinux, rocky, ol, amzn, sles, opensuse-leap, fedora, mariner, azurelinux, …
	Family   string `json:"family"`
	Version  string `json:"version"`
	Name     string `json:"name,omitempty"`
	Codename string `json:"codename,omitempty"`
}

// Artifact is what an analyzer learned from one file of one layer. Artifacts
// are keyed by path: when layers are squashed, the upper layer's artifact for
// a path replaces the lower one's, and a whiteout removes it.
type Artifact struct {
	Path     string    `json:"path"`
	Kind     string    `json:"kind"`
	Packages []Package `json:"packages,omitempty"`
	// Fields holds small parsed key/value content, e.g. os-release.
	Fields map[string]string `json:"fields,omitempty"`
	// Files are the paths (relative to the root) that an OS package database
	// says its packages installed. Language packages read from such files
	// are left to the OS advisories: a distro backports fixes without
	// changing the upstream version, so matching them again upstream would
	// report fixed vulnerabilities.
	Files []string `json:"files,omitempty"`
	// Error says why the file could not be read; its packages are then unknown
	// and the report is incomplete. Use it for package databases.
	Error string `json:"error,omitempty"`
	// Findings are risks of the file's content (a weak shadow entry, a SUID
	// bit, a private key). They belong to the file as it is in the final
	// image, except sensitive files and malicious samples: their bytes stay
	// in the layer blob even after a later layer deletes or replaces the file.
	Findings []Finding `json:"findings,omitempty"`
	// Warning records a per-file problem that leaves the report complete: a
	// malformed lockfile or manifest among an application's files.
	Warning string `json:"warning,omitempty"`
}

// LayerFacts is everything one analyze-layer pass learned about one layer.
type LayerFacts struct {
	Schema      string `json:"schema"`
	DiffID      string `json:"diffID"`
	Digest      string `json:"digest"`
	AnalyzerSet string `json:"analyzerSet"`
	// Whiteouts are paths the layer deletes; OpaqueDirs directories whose lower content it hides.
	Whiteouts  []string   `json:"whiteouts,omitempty"`
	OpaqueDirs []string   `json:"opaqueDirs,omitempty"`
	Artifacts  []Artifact `json:"artifacts,omitempty"`
	// Findings are content findings that belong to the layer itself (a deleted secret still ships in its blob).
	Findings []Finding `json:"findings,omitempty"`
	Stats    Stats     `json:"stats"`
	// Notes record what the pass skipped or refused (oversized files, unsafe paths).
	Notes []string `json:"notes,omitempty"`
}

// LayerFactsSchema versions the LayerFacts encoding.
const LayerFactsSchema = "layerscan.layerfacts/v1"

// Stats counts what a layer pass read.
type Stats struct {
	Entries           int64 `json:"entries"`
	CompressedBytes   int64 `json:"compressedBytes"`
	UncompressedBytes int64 `json:"uncompressedBytes"`
	FilesAnalyzed     int64 `json:"filesAnalyzed"`
}

// Coverage says whether advisory data existed for one ecosystem of an image,
// so that "no findings" is never confused with "not checked".
type Coverage struct {
	Ecosystem string `json:"ecosystem"`
	Packages  int    `json:"packages"`
	Covered   bool   `json:"covered"`
	Note      string `json:"note,omitempty"`
}
