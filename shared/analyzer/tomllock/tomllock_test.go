package tomllock

import "testing"

func TestPackages(t *testing.T) {
	b := []byte("version = 3\n\n[[package]]\nname = \"a\"\nversion = \"1.0\"\nsource = { registry = \"x\" }\nlit = 'raw'\nfiles = [\n    {file = \"name = \\\"evil\\\"\"},\n]\n\n[package.dependencies]\nname = \"not-a\"\n\n[[package]]\nname = \"b\\u0041\"\nversion = \"2\"\n")
	got, err := Packages(b)
	if err != nil || len(got) != 2 {
		t.Fatalf("%v %v", got, err)
	}
	if got[0]["name"] != "a" || got[0]["version"] != "1.0" || got[0]["lit"] != "raw" || got[0]["source"] != `{ registry = "x" }` {
		t.Errorf("%v", got[0])
	}
	if got[1]["name"] != "bA" {
		t.Errorf("%v", got[1])
	}
}

func FuzzPackages(f *testing.F) {
	f.Add([]byte("[[package]]\nname = \"a\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) { Packages(b) })
}
