// Package checks is the catalog of layerscan's own check IDs (baseline,
// build instruction, sensitive file) and the selection of them that the
// settings switch on: which checks a report lists. Layer facts are
// analysed once with every check and shared across images, so a
// selection is applied when a report is built, never when a layer is read.
package checks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/layerscan/layerscan/shared/scan"
)

// Baseline checks (docs/report.md, "Baseline").
var Baseline = []string{
	"LS-BASELINE-EMPTY-PASSWORD", "LS-BASELINE-WEAK-HASH", "LS-BASELINE-WEAK-PASSWORD",
	"LS-BASELINE-UID0", "LS-BASELINE-DUPLICATE-UID", "LS-BASELINE-DUPLICATE-GID",
	"LS-BASELINE-SSH-ROOT-LOGIN", "LS-BASELINE-SSH-PASSWORD-AUTH", "LS-BASELINE-SSH-EMPTY-PASSWORDS", "LS-BASELINE-SSH-X11",
	"LS-BASELINE-SUDO-NOPASSWD", "LS-BASELINE-SUID-WRITABLE", "LS-BASELINE-SUID", "LS-BASELINE-WORLD-WRITABLE",
	"LS-BASELINE-UNNECESSARY-FILE",
}

// Build-instruction checks (docs/report.md, "Build instructions").
var Build = []string{
	"LS-BUILD-MAINTAINER", "LS-BUILD-USER-ROOT", "LS-BUILD-APP-AS-ROOT", "LS-BUILD-ADD", "LS-BUILD-ADD-REMOTE",
	"LS-BUILD-ENV-SECRET", "LS-BUILD-ARG-SECRET",
	"LS-BUILD-TLS-NODE", "LS-BUILD-TLS-PYTHON", "LS-BUILD-TLS-GIT", "LS-BUILD-TLS-NPM", "LS-BUILD-TLS-CURL", "LS-BUILD-TLS-WGET", "LS-BUILD-TLS-PIP",
	"LS-BUILD-PIPE-TO-SHELL", "LS-BUILD-PIPE-HTTP", "LS-BUILD-APT-UNPINNED", "LS-BUILD-APT-CLI", "LS-BUILD-APT-LISTS",
	"LS-BUILD-UPDATE-ALONE", "LS-BUILD-DIST-UPGRADE", "LS-BUILD-APK-CACHE", "LS-BUILD-SUDO",
	"LS-BUILD-NO-HEALTHCHECK", "LS-BUILD-SENSITIVE-VOLUME", "LS-BUILD-EXPOSE-SSH",
}

// Sensitive-file check items (docs/report.md, "Sensitive files").
var SensitiveFiles = []string{
	"LS-SECRET-PRIVATE-KEY", "LS-SECRET-ALIBABA-AK", "LS-SECRET-AWS-ACCESS-KEY", "LS-SECRET-GCP-SERVICE-ACCOUNT",
	"LS-SECRET-AZURE-STORAGE-KEY", "LS-SECRET-GITHUB-TOKEN", "LS-SECRET-GITLAB-TOKEN", "LS-SECRET-NPM-TOKEN",
	"LS-SECRET-SLACK-TOKEN", "LS-SECRET-DOCKER-AUTH", "LS-SECRET-JWT-SECRET", "LS-SECRET-CONFIG-PASSWORD",
	"LS-SECRET-CREDENTIAL-FILE", "LS-SECRET-KEYSTORE",
}

// AccessKeys are the items of the AccessKey-leak switch: cloud access keys.
var AccessKeys = []string{"LS-SECRET-ALIBABA-AK", "LS-SECRET-AWS-ACCESS-KEY", "LS-SECRET-GCP-SERVICE-ACCOUNT", "LS-SECRET-AZURE-STORAGE-KEY"}

// Passwords are the items of the password-leak switch.
var Passwords = []string{"LS-SECRET-CONFIG-PASSWORD", "LS-SECRET-CREDENTIAL-FILE", "LS-SECRET-DOCKER-AUTH"}

// Selection is the check configuration of the settings. Its zero value
// is not the default: use Default.
type Selection struct {
	// DisabledChecks are baseline and build-instruction check IDs that are
	// not reported.
	DisabledChecks []string `json:"disabledChecks"`
	// AccessKeyLeak and PasswordLeak switch the AccessKey-leak and
	// password-leak detections (AccessKeys, Passwords).
	AccessKeyLeak bool `json:"accessKeyLeak"`
	PasswordLeak  bool `json:"passwordLeak"`
	// SensitiveFiles switches the sensitive-file scan; DisabledSensitiveItems
	// are its items (SensitiveFiles) that are not reported.
	SensitiveFiles         bool     `json:"sensitiveFiles"`
	DisabledSensitiveItems []string `json:"disabledSensitiveItems"`
	// MaliciousSamples switches malicious-sample scanning.
	MaliciousSamples bool `json:"maliciousSamples"`
}

// Default runs every check.
func Default() Selection {
	return Selection{DisabledChecks: []string{}, AccessKeyLeak: true, PasswordLeak: true, SensitiveFiles: true, DisabledSensitiveItems: []string{}, MaliciousSamples: true}
}

// Validate names the first unknown check ID.
func (s Selection) Validate() error {
	for i, id := range s.DisabledChecks {
		if !slices.Contains(Baseline, id) && !slices.Contains(Build, id) {
			return fmt.Errorf("disabledChecks[%d]: %q is not a baseline or build-instruction check ID (docs/report.md)", i, id)
		}
	}
	for i, id := range s.DisabledSensitiveItems {
		if !slices.Contains(SensitiveFiles, id) {
			return fmt.Errorf("disabledSensitiveItems[%d]: %q is not a sensitive-file check item (docs/report.md)", i, id)
		}
	}
	return nil
}

// Keeps reports whether a finding is reported under the selection.
// Vulnerabilities and layer-integrity findings always are.
func (s Selection) Keeps(f scan.Finding) bool {
	switch f.Category {
	case scan.Baseline, scan.BuildInstruction:
		return !slices.Contains(s.DisabledChecks, f.ID)
	case scan.SensitiveFile:
		switch {
		case !s.SensitiveFiles, slices.Contains(s.DisabledSensitiveItems, f.ID):
			return false
		case !s.AccessKeyLeak && slices.Contains(AccessKeys, f.ID):
			return false
		case !s.PasswordLeak && slices.Contains(Passwords, f.ID):
			return false
		}
		return true
	case scan.MaliciousSample:
		return s.MaliciousSamples || !strings.HasPrefix(f.ID, "LS-MALWARE-") && !strings.HasPrefix(f.ID, "MAL-")
	}
	return true
}

// Filter keeps the findings the selection reports, in place.
func (s Selection) Filter(fs []scan.Finding) []scan.Finding {
	return slices.DeleteFunc(fs, func(f scan.Finding) bool { return !s.Keeps(f) })
}

// Fingerprint identifies a selection that is not the default ("" for the
// default), so that reports built under another selection are not reused.
func (s Selection) Fingerprint() string {
	n := s
	n.DisabledChecks = sorted(s.DisabledChecks)
	n.DisabledSensitiveItems = sorted(s.DisabledSensitiveItems)
	d := Default()
	if n.AccessKeyLeak == d.AccessKeyLeak && n.PasswordLeak == d.PasswordLeak && n.SensitiveFiles == d.SensitiveFiles &&
		n.MaliciousSamples == d.MaliciousSamples && len(n.DisabledChecks) == 0 && len(n.DisabledSensitiveItems) == 0 {
		return ""
	}
	b, _ := json.Marshal(n)
	sum := sha256.Sum256(b)
	return "checks-" + hex.EncodeToString(sum[:6])
}

func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
