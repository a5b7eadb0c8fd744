package deb

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0-1", "1.0-2", -1},
		{"1:1.0", "2.0", 1},
		{"1.0~rc1", "1.0", -1},
		{"3.0.20-1~deb12u2", "3.0.22-1~deb12u1", -1},
		{"3.0.22-1~deb12u1", "3.0.22-1~deb12u2", -1},
		{"1.10.0-3+b1", "1.10.0-3+deb12u1", -1},
		{"1.0.9-2+b6", "1.0.9-2+deb12u1", -1},
		{"7.88.1-10+deb12u15", "7.88.1-10+deb12u5", 1},
		{"1.0a", "1.0+", -1},
		{"1.0", "1.0.0", -1},
		{"0001", "1", 0},
		{"1.2.3-1ubuntu0.1", "1.2.3-1", 1},
		{"99999999999999999999", "99999999999999999998", 1},
	} {
		if got := Compare(c.a, c.b); got != c.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Compare(c.b, c.a); got != -c.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

func TestParseRelations(t *testing.T) {
	rs, err := ParseRelations("libc6 (>= 2.34), libssl3 (>= 3.0.9) | libssl1.1,\n perl:any, foo (<< 2) [amd64], bar (> 1)")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"libc6 (>= 2.34)"}, {"libssl3 (>= 3.0.9)", "libssl1.1"}, {"perl:any"}, {"foo (<< 2)"}, {"bar (>= 1)"}}
	if len(rs) != len(want) {
		t.Fatalf("%v", rs)
	}
	for i, g := range rs {
		for j, r := range g {
			if r.String() != want[i][j] {
				t.Errorf("%d/%d: %s, want %s", i, j, r, want[i][j])
			}
		}
	}
	if !rs[0][0].Satisfies("2.36-9+deb12u14") || rs[0][0].Satisfies("2.33") || !rs[3][0].Satisfies("1.9") {
		t.Error("Satisfies")
	}
	for _, bad := range []string{"foo (>= )", "foo (>= 1", "(>= 1)", "a b"} {
		if _, err := ParseRelations(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParagraphsRoundTrip(t *testing.T) {
	in := "Package: a\nStatus: install ok installed\nConffiles:\n /etc/a 0123\n /etc/b 4567\nDescription: x\n long\n .\n more\n\nPackage: b\nVersion: 1\n"
	var out bytes.Buffer
	n := 0
	err := ReadParagraphs(strings.NewReader(in), func(p Paragraph) error {
		if n > 0 {
			out.WriteByte('\n')
		}
		n++
		p.WriteTo(&out)
		return nil
	})
	if err != nil || out.String() != in || n != 2 {
		t.Errorf("%v %d\n%q\n%q", err, n, out.String(), in)
	}
	p, _ := ParseParagraph([]byte(in))
	p.Set("Version", "2")
	p.Delete("Status")
	if p.Get("version") != "2" || p.Get("Status") != "" || !strings.HasPrefix(p.Get("Conffiles"), "\n /etc/a") {
		t.Errorf("%v", p)
	}
	for _, bad := range []string{" leading continuation\n", "no colon here\n", "Sp ace: x\n"} {
		if err := ReadParagraphs(strings.NewReader(bad), func(Paragraph) error { return nil }); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// realDebs are the .debs apt has cached on this machine, as fuzz seeds.
func realDebs() []string {
	fs, _ := filepath.Glob("/var/cache/apt/archives/*.deb")
	if len(fs) > 3 {
		fs = fs[:3]
	}
	return fs
}

func FuzzRead(f *testing.F) {
	for _, p := range realDebs() {
		if b, err := os.ReadFile(p); err == nil && len(b) < 4<<20 {
			f.Add(b)
		}
	}
	if b, err := dpkgDebBuild(f); err == nil {
		f.Add(b)
	}
	f.Add([]byte("!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		files := 0
		pkg, err := Read(bytes.NewReader(b), func(p *Package, tr *tar.Reader) error {
			for {
				_, err := tr.Next()
				if err != nil {
					return nil
				}
				files++
				io.Copy(io.Discard, tr)
			}
		})
		if err == nil && (pkg == nil || pkg.Control.Get("Package") == "") {
			t.Fatal("a package without a name was accepted")
		}
	})
}

// dpkgDebBuild is a package dpkg-deb built, when this machine has it.
func dpkgDebBuild(f *testing.F) ([]byte, error) {
	dir := f.TempDir()
	os.MkdirAll(filepath.Join(dir, "pkg", "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(dir, "pkg", "usr", "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "pkg", "DEBIAN", "control"), []byte("Package: seed\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@example.test>\nDescription: seed\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "pkg", "usr", "bin", "seed"), []byte("#!/bin/sh\n"), 0o755)
	if err := exec.Command("dpkg-deb", "--root-owner-group", "--build", filepath.Join(dir, "pkg"), filepath.Join(dir, "seed.deb")).Run(); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(dir, "seed.deb"))
}

func FuzzReadParagraphs(f *testing.F) {
	if b, err := os.ReadFile("/var/lib/dpkg/status"); err == nil {
		f.Add(b[:min(len(b), 64<<10)])
	}
	f.Add([]byte("Package: a\nVersion: 1\n\nPackage: b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		err := ReadParagraphs(bytes.NewReader(b), func(p Paragraph) error {
			p.WriteTo(&out)
			out.WriteByte('\n')
			return nil
		})
		if err != nil {
			return
		}
		// what was read and written reads back the same
		var again bytes.Buffer
		if err := ReadParagraphs(&out, func(p Paragraph) error { p.WriteTo(&again); again.WriteByte('\n'); return nil }); err != nil {
			t.Fatalf("written paragraphs do not read back: %v", err)
		}
	})
}

func FuzzParseRelations(f *testing.F) {
	f.Add("libc6 (>= 2.34), libssl3 (>= 3.0.9) | libssl1.1")
	f.Add("perl:any, foo [amd64] <!nocheck>")
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseRelations(s)
		if err != nil {
			return
		}
		for _, g := range rs {
			for _, r := range g {
				if r.Name == "" || (r.Op != "" && r.Version == "") {
					t.Fatalf("%q gave %+v", s, r)
				}
				r.Satisfies("1.0")
			}
		}
	})
}

func FuzzCompare(f *testing.F) {
	f.Add("1:2.0-1", "2.0~rc1")
	f.Fuzz(func(t *testing.T, a, b string) {
		if Compare(a, b) != -Compare(b, a) {
			t.Fatalf("Compare(%q, %q) is not antisymmetric", a, b)
		}
		if Compare(a, a) != 0 {
			t.Fatalf("Compare(%q, itself) != 0", a)
		}
	})
}

func TestReadDpkgDebOutput(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "pkg", "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(dir, "pkg", "usr", "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "pkg", "DEBIAN", "control"), []byte("Package: seed\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@example.test>\nDescription: seed\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "pkg", "DEBIAN", "postinst"), []byte("#!/bin/sh\nldconfig\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "pkg", "usr", "bin", "seed"), []byte("#!/bin/sh\n"), 0o755)
	out := filepath.Join(dir, "seed.deb")
	if b, err := exec.Command("dpkg-deb", "-Zxz", "--root-owner-group", "--build", filepath.Join(dir, "pkg"), out).CombinedOutput(); err != nil {
		t.Skipf("dpkg-deb: %v %s", err, b)
	}
	fh, _ := os.Open(out)
	defer fh.Close()
	var names []string
	pkg, err := Read(fh, func(p *Package, tr *tar.Reader) error {
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			names = append(names, h.Name)
		}
	})
	if err != nil || pkg.Control.Get("Version") != "1.0-1" || strings.Join(pkg.Scripts(), ",") != "postinst" || !strings.Contains(strings.Join(names, " "), "./usr/bin/seed") {
		t.Errorf("%v %+v %v", err, pkg, names)
	}
}
