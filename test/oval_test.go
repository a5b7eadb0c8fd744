package test

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/layerscan/layerscan/shared/scan"
)

// TestMarinerOVAL: the corpus CBL-Mariner 2.0 image against Microsoft's
// OVAL gives exactly the 369 (package, CVE) pairs of the ground truth,
// each with the OVAL's severity, matched by source package (curl covers
// curl-libs), with a tdnf fix command; and nothing else from that OVAL.
func TestMarinerOVAL(t *testing.T) {
	f, err := os.Open(filepath.Join(sharedDir(t), "corpus", "images", "ground-truth", "rpm-cbl-mariner-2.0-sqlite.oval-matches.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comma = '\t'
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[[2]string]scan.Severity{}
	for _, row := range rows[1:] { // package, installed, cve, fixed_below, severity
		want[[2]string{row[0], row[2]}] = scan.Severity(strings.ToUpper(row[4]))
	}
	if len(want) != 369 {
		t.Fatalf("ground truth has %d pairs", len(want))
	}
	r := scanImage(t, advisoryStore(t), corpusImage(t, "rpm-cbl-mariner-2.0-sqlite.tar"))
	if why := r.Unchecked(); why != "" {
		t.Errorf("the Mariner image is still %s", why)
	}
	got := map[[2]string]scan.Finding{}
	for _, fd := range r.Findings {
		if fd.Category == scan.SystemVulnerability {
			got[[2]string{fd.Package.Name, fd.ID}] = fd
		}
	}
	for k, sev := range want {
		fd, ok := got[k]
		switch {
		case !ok:
			t.Errorf("missing %s %s", k[0], k[1])
		case fd.Severity != sev:
			t.Errorf("%s %s: severity %s, OVAL says %s", k[0], k[1], fd.Severity, sev)
		case !strings.HasPrefix(fd.Remediation, "tdnf "):
			t.Errorf("%s %s: fix %q", k[0], k[1], fd.Remediation)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("extra %s %s", k[0], k[1])
		}
	}
	if _, ok := got[[2]string{"curl-libs", "CVE-2021-22945"}]; !ok {
		t.Error("curl-libs is not matched through its source package curl")
	}
}

// TestNVDSeverities: a finding whose advisory has no rating takes NVD's,
// as EXPECTED.md lists them (musl CVE-2019-14697 CVSS 3.1 9.8 CRITICAL,
// x/text GO-2021-0113, CVE-2021-38561, 7.5 HIGH); a finding whose advisory rates it keeps
// that rating and says whose it is.
func TestNVDSeverities(t *testing.T) {
	db := advisoryStore(t)
	find := func(r []scan.Finding, id, pkg string) *scan.Finding {
		for i, f := range r {
			if (f.ID == id || slices.Contains(f.Aliases, id)) && f.Package != nil && f.Package.Name == pkg {
				return &r[i]
			}
		}
		t.Fatalf("no %s on %s", id, pkg)
		return nil
	}
	alpine := scanImage(t, db, corpusImage(t, "alpine-3.9-app.tar")).Findings
	musl := find(alpine, "CVE-2019-14697", "musl")
	if musl.Severity != scan.Critical || musl.SeveritySource != "NVD" || len(musl.CVSS) == 0 || musl.CVSS[0].Score != 9.8 || !strings.HasPrefix(musl.CVSS[0].Vector, "CVSS:3.1/") {
		t.Errorf("musl: %+v", musl)
	}
	debian := scanImage(t, db, corpusImage(t, "debian-bookworm-app")).Findings
	if f := find(debian, "GO-2021-0113", "golang.org/x/text"); f.Severity != scan.High || f.SeveritySource != "NVD" {
		t.Errorf("x/text: %s from %s", f.Severity, f.SeveritySource)
	}
	// minimist's GHSA rates it: NVD's score is shown, the rating stays GHSA's.
	if f := find(debian, "CVE-2021-44906", "minimist"); f.Severity != scan.Critical || f.SeveritySource != "GHSA" || len(f.CVSS) == 0 {
		t.Errorf("minimist: %s from %s, cvss %v", f.Severity, f.SeveritySource, f.CVSS)
	}
	mariner := scanImage(t, db, corpusImage(t, "rpm-cbl-mariner-2.0-sqlite.tar")).Findings
	if f := find(mariner, "CVE-2023-45853", "zlib"); f.SeveritySource != "Mariner" || f.Severity != scan.Critical {
		t.Errorf("zlib on Mariner: %s from %s (its OVAL rates it)", f.Severity, f.SeveritySource)
	}
}

// TestRedHatVEX: CVE-2021-37600 is known_affected on RHEL 8 with "Will
// not fix": the RHEL 8.8 image's libuuid (source util-linux) is affected,
// unfixed, saying that no fix is planned, and with no fix command.
func TestRedHatVEX(t *testing.T) {
	r := scanImage(t, advisoryStore(t), corpusImage(t, "rpm-rhel-8.8-bdb.tar"))
	if why := r.Unchecked(); why != "" {
		t.Errorf("the RHEL image is still %s", why)
	}
	var f *scan.Finding
	for i := range r.Findings {
		if r.Findings[i].ID == "CVE-2021-37600" {
			f = &r.Findings[i]
		}
	}
	if f == nil || f.Package.Name != "libuuid" || f.Status != "unfixed" || f.FixedVersion != "" || !strings.Contains(f.FixNote, "will not fix") || strings.Contains(f.Remediation, "yum ") || f.Severity != scan.Low {
		t.Errorf("CVE-2021-37600: %+v", f)
	}
}

// TestSUSECSAF: the SLES 15 SP3 image against SUSE's CSAF advisories
// gives the 87 ground-truth pairs with SUSE's impact as severity and a
// zypper fix.
func TestSUSECSAF(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(sharedDir(t), "corpus", "images", "ground-truth", "rpm-sles-15.3-ndb.csaf-matches.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	r := scanImage(t, advisoryStore(t), corpusImage(t, "rpm-sles-15.3-ndb.tar"))
	got := map[string]scan.Finding{}
	for _, f := range r.Findings {
		if f.Category == scan.SystemVulnerability {
			got[f.Package.Name+" "+f.ID] = f
		}
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")[1:]
	for _, line := range lines { // package, installed, cve, fixed, advisory, severity
		c := strings.Split(line, "\t")
		f, ok := got[c[0]+" "+c[2]]
		want := map[string]scan.Severity{"low": scan.Low, "moderate": scan.Medium, "important": scan.High, "critical": scan.Critical}[c[5]]
		switch {
		case !ok:
			t.Errorf("missing %s %s", c[0], c[2])
		case f.Severity != want:
			t.Errorf("%s %s: %s, SUSE says %s", c[0], c[2], f.Severity, c[5])
		case !strings.HasPrefix(f.Remediation, "zypper "):
			t.Errorf("%s %s: fix %q", c[0], c[2], f.Remediation)
		}
	}
	if len(lines) != 87 {
		t.Errorf("%d ground-truth pairs", len(lines))
	}
}
