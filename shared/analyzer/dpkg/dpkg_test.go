package dpkg

import "testing"

func TestParse(t *testing.T) {
	status := "Package: bsdutils\nStatus: install ok installed\nVersion: 1:2.39.3-9ubuntu6\nSource: util-linux (2.39.3-9ubuntu6)\nArchitecture: amd64\nDescription: x\n more\n\n" +
		"Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n" +
		"Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b13\nSource: bash (5.2.15-2)\n\n" +
		"Package: zlib1g\nVersion: 1:1.2.13.dfsg-1\nSource: zlib\n"
	pkgs, err := Parse([]byte(status), "var/lib/dpkg/status")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, ver, src, srcVer string }{
		{"bsdutils", "1:2.39.3-9ubuntu6", "util-linux", "2.39.3-9ubuntu6"},
		{"bash", "5.2.15-2+b13", "bash", "5.2.15-2"},
		{"zlib1g", "1:1.2.13.dfsg-1", "zlib", "1:1.2.13.dfsg-1"},
	}
	if len(pkgs) != len(want) {
		t.Fatalf("got %d packages: %+v", len(pkgs), pkgs)
	}
	for i, w := range want {
		p := pkgs[i]
		if p.Name != w.name || p.Version != w.ver || p.SourceName != w.src || p.SourceVersion != w.srcVer {
			t.Errorf("%d: %+v, want %+v", i, p, w)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("Package: a\nVersion: 1\nSource: b (2)\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) { Parse(b, "status") })
}
