package apk

import "testing"

func TestParse(t *testing.T) {
	db := "C:Q1abc=\nP:libssl1.1\nV:1.1.1a-r1\nA:x86_64\no:openssl\n\nP:musl\nV:1.1.20-r3\nA:x86_64\n\n"
	pkgs, err := Parse([]byte(db), "lib/apk/db/installed")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 || pkgs[0].SourceName != "openssl" || pkgs[1].SourceName != "musl" || pkgs[0].PURL != "pkg:apk/alpine/libssl1.1@1.1.1a-r1?arch=x86_64" {
		t.Errorf("%+v", pkgs)
	}
	if _, err := Parse([]byte("garbage line\n"), "x"); err == nil {
		t.Error("malformed database accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("P:a\nV:1\no:b\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) { Parse(b, "installed") })
}
