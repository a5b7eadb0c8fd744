package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/layerscan/layerscan/shared/scan"
)

// TestTableAt80Columns: at 80 columns every line but the fix commands
// fits; one package's vulnerabilities are one row with all its IDs, the
// highest severity and the version that fixes all; counts are plural-aware.
func TestTableAt80Columns(t *testing.T) {
	pkg := &scan.PackageRef{Name: "openssl", Version: "3.0.1-1", Type: "deb"}
	r := &Report{
		Image:    Image{Ref: "registry.example.com/team/a-rather-long-repository-name:1.0", Digest: "sha256:" + strings.Repeat("a", 64), Platform: "linux/amd64"},
		Layers:   []Layer{{Index: 0, DiffID: "sha256:l0"}},
		Packages: []scan.Package{{Name: "openssl", Version: "3.0.1-1", Type: "deb"}},
		Findings: []scan.Finding{
			{Category: scan.SystemVulnerability, ID: "CVE-2024-0001", Severity: scan.Medium, Package: pkg, FixedVersion: "3.0.2-1", Remediation: "apt-get install openssl=3.0.2-1", LayerDiffID: "sha256:l0"},
			{Category: scan.SystemVulnerability, ID: "CVE-2024-0002", Severity: scan.Critical, Package: pkg, FixedVersion: "3.0.10-1", Remediation: "apt-get install openssl=3.0.10-1", LayerDiffID: "sha256:l0"},
			{Category: scan.SystemVulnerability, ID: "CVE-2024-0003", Severity: scan.High, Package: pkg, FixedVersion: "3.0.9-1", Remediation: "apt-get install openssl=3.0.9-1", LayerDiffID: "sha256:l0"},
			{Category: scan.SensitiveFile, ID: "LS-SECRET-PRIVATE-KEY", Severity: scan.High, Path: "/srv/a/very/long/path/to/somewhere/deep/inside/the/image/filesystem/key.pem", Evidence: "-----BEGIN RSA PRIVATE KEY----- \x1b[2K"},
		},
		Complete: true,
	}
	r.Summary = Summarize(r.Findings)
	for _, width := range []int{80, 160} {
		var b bytes.Buffer
		if err := WriteTableWidth(&b, r, width); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, line := range strings.Split(out, "\n") {
			if width == 80 && utf8.RuneCountInString(line) > 80 && !strings.Contains(line, "fix: ") {
				t.Errorf("over 80 columns: %q", line)
			}
		}
		if !strings.Contains(out, "1 layer, 1 package") || !strings.Contains(out, "(3 findings in 1 package)") {
			t.Errorf("%d: counts:\n%s", width, out)
		}
		if strings.Count(out, "CVE-2024-000") != 3 || !strings.Contains(out, "CRITICAL") || !strings.Contains(out, "apt-get install openssl=3.0.10-1") || strings.Contains(out, "openssl=3.0.9-1") {
			t.Errorf("%d: one row with every ID, the highest severity and the fix of all:\n%s", width, out)
		}
		if strings.Contains(out, "\x1b") {
			t.Errorf("%d: a control character reached the terminal", width)
		}
	}
}
