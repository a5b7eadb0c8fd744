package advisory

import (
	"os"
	"testing"

	"github.com/layerscan/layerscan/shared/scan"
)

func TestCVSSScore(t *testing.T) {
	for vec, want := range map[string]float64{
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H": 9.8,
		"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H": 7.4,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:L/I:L/A:N": 7.2,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L": 5.3,
		"CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:N": 0,
		// v2 and v4.0, which the v3-only scorer rejected (CVE-2019-14697's
		// v2 vector as NVD gives it; v4.0 per the FIRST calculator).
		"AV:N/AC:L/Au:N/C:P/I:P/A:P":                                      7.5,
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N": 9.3,
	} {
		_, got, ok := CVSSScore(vec)
		if !ok || got != want {
			t.Errorf("%s: %v %v, want %v", vec, got, ok, want)
		}
	}
	for _, bad := range []string{"CVSS:4.0/AV:N", "CVSS:3.1/AV:X", "garbage", ""} {
		if _, _, ok := CVSSScore(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestAddOSVAndSecDB(t *testing.T) {
	b := NewBuilder()
	yml := "id: PYSEC-1\naliases: [CVE-1]\naffected:\n- package: {ecosystem: PyPI, name: x}\n  ranges:\n  - type: GIT\n    events: [{introduced: '0'}, {fixed: abc}]\n  - type: ECOSYSTEM\n    events: [{introduced: '0'}, {fixed: 1.10}]\n"
	if err := b.AddOSV([]byte(yml), true); err != nil {
		t.Fatal(err)
	}
	e := b.indexes["PyPI"].Packages["x"][0]
	if len(e.Ranges) != 1 || e.Ranges[0].Events[1].Fixed != "1.10" {
		t.Errorf("yaml 1.10 must stay a string and GIT ranges drop: %+v", e.Ranges)
	}
	js := `{"id":"ALSA-1","summary":"Important: x","related":["CVE-2023-1234","ALSA-0"],"affected":[{"package":{"ecosystem":"AlmaLinux:9","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1-2.el9"}]}]}]}`
	if err := b.AddOSV([]byte(js), false); err != nil {
		t.Fatal(err)
	}
	a := b.indexes["AlmaLinux:9"].Packages["x"][0]
	if a.Severity != scan.High || len(a.Aliases) != 0 || len(a.Related) != 1 {
		t.Errorf("%+v", a)
	}
	n, err := b.AddSecDB([]byte("distroversion: v3.9\npackages:\n- pkg:\n    name: musl\n    secfixes:\n      1.1.20-r5: [CVE-2019-14697]\n      '0': [CVE-2000-1]\n"))
	if err != nil || n != 1 || b.indexes["Alpine:v3.9"].Packages["musl"][0].ID != "CVE-2019-14697" {
		t.Errorf("secdb: %d %v", n, err)
	}
	if err := b.AddOSV([]byte("a: &x [1]\nb: *x\n"), true); err == nil {
		t.Error("YAML aliases accepted")
	}
}

func FuzzAddOSV(f *testing.F) {
	f.Add([]byte(`{"id":"X","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1"]}]}`), false)
	f.Add([]byte("id: X\n"), true)
	f.Fuzz(func(t *testing.T, b []byte, y bool) { NewBuilder().AddOSV(b, y) })
}

func TestLineIndexRoundTrip(t *testing.T) {
	ix := &Index{Ecosystem: "npm", Packages: map[string][]Entry{
		"lodash":      {{ID: "GHSA-1", Severity: "HIGH", Ranges: []Range{{Type: "SEMVER", Events: []Event{{Introduced: "0"}, {Fixed: "4.17.21"}}}}}},
		"@scope/name": {{ID: "GHSA-2"}, {ID: "GHSA-3", Aliases: []string{"CVE-1"}}},
	}}
	b, err := encodeLines(ix)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeLines("npm", b)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range ix.Packages {
		es, err := got.Entries(name)
		if err != nil || len(es) != len(want) || es[0].ID != want[0].ID {
			t.Errorf("%s: %+v %v", name, es, err)
		}
	}
	if es, err := got.Entries("absent"); es != nil || err != nil {
		t.Errorf("absent: %v %v", es, err)
	}
	if _, err := decodeLines("npm", []byte("no tab here\n")); err == nil {
		t.Error("malformed line accepted")
	}
	bad, _ := decodeLines("npm", []byte("x\t{not json\n"))
	if _, err := bad.Entries("x"); err == nil {
		t.Error("broken entries accepted")
	}
	if _, err := encodeLines(&Index{Packages: map[string][]Entry{"a\tb": nil}}); err == nil {
		t.Error("a name with a tab was written")
	}
}

// FuzzOVAL: any document either fails to parse or yields entries whose
// ranges end at a fixed version; nothing panics or nests without bound.
func FuzzOVAL(f *testing.F) {
	f.Add([]byte(`<oval_definitions><definitions><definition class="vulnerability" id="d1"><metadata><title>CVE-2021-1 affecting curl</title><reference ref_id="CVE-2021-1" source="CVE"/><severity>High</severity></metadata><criteria operator="AND"><criterion test_ref="t1"/><criteria operator="OR"><criterion test_ref="t2" negate="true"/></criteria></criteria></definition></definitions><tests><rpminfo_test id="t1"><object object_ref="o1"/><state state_ref="s1"/></rpminfo_test></tests><objects><rpminfo_object id="o1"><name>curl</name></rpminfo_object></objects><states><rpminfo_state id="s1"><evr datatype="evr_string" operation="less than">0:7.82.0-1.cm2</evr></rpminfo_state></states></oval_definitions>`))
	if b, err := os.ReadFile("../../../shared/corpus/advisories/oval/azurelinux-3.0-oval.xml"); err == nil && len(b) > 20000 {
		f.Add(b[:20000])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBuilder()
		if _, err := b.AddOVAL(data, "Mariner:2.0"); err != nil {
			return
		}
		for _, ix := range b.indexes {
			for name, es := range ix.Packages {
				for _, e := range es {
					if name == "" || e.ID == "" || len(e.Ranges) != 1 || e.Ranges[0].Events[1].Fixed == "" {
						t.Fatalf("entry %+v of %q", e, name)
					}
				}
			}
		}
	})
}

// FuzzNVD: any document either fails or yields ratings whose severity is
// one of the five and whose metrics are listed.
func FuzzNVD(f *testing.F) {
	if b, err := os.ReadFile("../../../shared/corpus/advisories/nvd/CVE-2021-44906.json"); err == nil {
		f.Add(b)
		f.Add([]byte(`{"vulnerabilities":[{"cve":` + string(b) + `}]}`))
	}
	f.Add([]byte(`{"id":"CVE-2024-1","metrics":{"cvssMetricV40":[{"source":"cna@example","type":"Secondary","cvssData":{"version":"4.0","vectorString":"CVSS:4.0/AV:N","baseScore":9.3,"baseSeverity":"CRITICAL"}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBuilder()
		if _, err := b.AddNVD(data); err != nil {
			return
		}
		for id, r := range b.nvd {
			if _, err := scan.ParseSeverity(string(r.Severity)); err != nil || len(r.CVSS) == 0 {
				t.Fatalf("%s: %+v", id, r)
			}
		}
	})
}

// FuzzCSAF: any document either fails or yields entries with an ID and a
// range; nothing panics on hostile trees.
func FuzzCSAF(f *testing.F) {
	for _, p := range []string{"../../../shared/corpus/advisories/csaf/redhat/cve-2021-37600.json"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"document":{"publisher":{"namespace":"https://www.suse.com/"}},"product_tree":{"branches":[{"product":{"name":"SUSE Linux Enterprise Server 15 SP3","product_id":"p"}}],"relationships":[{"full_product_name":{"product_id":"p:curl-7.66.0-4.1.x86_64"},"product_reference":"curl-7.66.0-4.1.x86_64","relates_to_product_reference":"p"}]},"vulnerabilities":[{"cve":"CVE-2021-1","product_status":{"fixed":["p:curl-7.66.0-4.1.x86_64"]},"threats":[{"category":"impact","details":"moderate"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBuilder()
		if _, err := b.AddCSAF(data); err != nil {
			return
		}
		for _, ix := range b.indexes {
			for name, es := range ix.Packages {
				for _, e := range es {
					if name == "" || e.ID == "" || len(e.Ranges) != 1 {
						t.Fatalf("entry %+v of %q", e, name)
					}
				}
			}
		}
	})
}

func TestCanonicalEcosystem(t *testing.T) {
	for in, want := range map[string]string{
		"Ubuntu:24.04:LTS":                                   "Ubuntu:24.04",
		"Ubuntu:Pro:18.04:LTS":                               "Ubuntu:Pro:18.04:LTS",
		"Red Hat:enterprise_linux:8::appstream":              "Red Hat:enterprise_linux:8",
		"Red Hat:rhel_eus:8.4::baseos":                       "Red Hat:enterprise_linux:8",
		"Red Hat:enterprise_linux:9":                         "Red Hat:enterprise_linux:9",
		"Red Hat:openshift:4.12::el8":                        "Red Hat:openshift:4.12::el8",
		"SUSE:Linux Enterprise Module for Basesystem 15 SP3": "SUSE:Linux Enterprise Server 15 SP3",
		"SUSE:Linux Enterprise Server 15 SP3-LTSS":           "SUSE:Linux Enterprise Server 15 SP3",
		"openSUSE:openSUSE Leap 15.3":                        "openSUSE:Leap 15.3",
		"Debian:12":                                          "Debian:12",
	} {
		if got := CanonicalEcosystem(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// TestSUSEOSVBinaries: a SUSE OSV record names the source rpm and lists
// its binaries; each binary is matched, under the release's ecosystem.
func TestSUSEOSVBinaries(t *testing.T) {
	b := NewBuilder()
	rec := `{"id":"SUSE-SU-2024:0001-1","aliases":["CVE-2024-1"],"affected":[{"package":{"ecosystem":"SUSE:Linux Enterprise Module for Basesystem 15 SP3","name":"glibc"},
		"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.31-150300.63.1"}]}],
		"ecosystem_specific":{"binaries":[{"glibc":"2.31-150300.63.1","glibc-locale-base":"2.31-150300.63.1"}]}}]}`
	if err := b.AddOSV([]byte(rec), false); err != nil {
		t.Fatal(err)
	}
	ix := b.indexes["SUSE:Linux Enterprise Server 15 SP3"]
	if ix == nil || len(ix.Packages["glibc"]) != 1 || len(ix.Packages["glibc-locale-base"]) != 1 {
		t.Errorf("indexes: %v", b.indexes)
	}
}

func TestOVALEcosystem(t *testing.T) {
	for file, want := range map[string]string{
		"cbl-mariner-2.0-oval.xml": "Mariner:2.0", "azurelinux-3.0-oval.xml": "Azure Linux:3.0",
		"rhel-8.oval.xml": "Red Hat:enterprise_linux:8", "com.oracle.elsa-ol9.xml": "Oracle Linux:9",
		"rhel-8.oval.xml.bak": "", "other.xml": "",
	} {
		if got := OVALEcosystem(file); got != want {
			t.Errorf("%s: %q, want %q", file, got, want)
		}
	}
}
