package golang

import (
	"context"
	"debug/buildinfo"
	"os"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/layerscan/layerscan/shared/analyzer"
)

func TestStdlibVersion(t *testing.T) {
	cases := map[string]string{
		"go1.26.8":                "1.26.8",
		"go1.21.0 X:boringcrypto": "1.21.0",
		"go1.20":                  "1.20.0",
		"go1.22rc1":               "1.22.0-rc.1",
		"go1.9beta2":              "1.9.0-beta.2",
		"devel +abc":              "",
		"":                        "",
	}
	for in, want := range cases {
		if got := StdlibVersion(in); got != want {
			t.Errorf("StdlibVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPackagesFollowReplaceAndSkipDevel(t *testing.T) {
	bi := &buildinfo.BuildInfo{
		GoVersion: "go1.22.1",
		Main:      debug.Module{Path: "example.com/app", Version: "(devel)"},
		Deps: []*debug.Module{
			{Path: "golang.org/x/text", Version: "v0.3.5"},
			{Path: "github.com/a/b", Version: "v1.0.0", Replace: &debug.Module{Path: "github.com/fork/b", Version: "v1.0.1"}},
			{Path: "github.com/c/d", Version: "v1.0.0", Replace: &debug.Module{Path: "../d"}},
		},
	}
	got := map[string]string{}
	for _, p := range Packages(bi, "usr/bin/app") {
		got[p.Name] = p.Version
		if p.Type != "golang" || p.Path != "usr/bin/app" {
			t.Errorf("%+v", p)
		}
	}
	want := map[string]string{"stdlib": "1.22.1", "golang.org/x/text": "v0.3.5", "github.com/fork/b": "v1.0.1"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
}

// The test binary itself is a real Go binary.
func TestAnalyzeRealBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	arts, err := Analyzer{}.Analyze(context.Background(), analyzer.Input{Path: "bin/x", Mode: 0o755, Content: b})
	if err != nil || len(arts) != 1 {
		t.Fatalf("%v %v", arts, err)
	}
	found := false
	for _, p := range arts[0].Packages {
		if p.Name == "stdlib" && p.Version == StdlibVersion(runtime.Version()) {
			found = true
		}
	}
	if !found {
		t.Errorf("no stdlib %s in %+v", runtime.Version(), arts[0].Packages)
	}
	// A script or a non-Go ELF is not an error.
	for _, c := range [][]byte{[]byte("#!/bin/sh\necho hi\n"), []byte("\x7fELF garbage")} {
		arts, err := Analyzer{}.Analyze(context.Background(), analyzer.Input{Path: "bin/s", Mode: 0o755, Content: c})
		if err != nil || len(arts) != 0 {
			t.Errorf("%q: %v %v", c, arts, err)
		}
	}
}

func TestWants(t *testing.T) {
	a := Analyzer{}
	if !a.Wants("usr/local/bin/tool", 0o755) || a.Wants("usr/local/bin/tool", 0o644) || a.Wants("usr/lib/libx.so.1", 0o755) {
		t.Error("Wants")
	}
}

func FuzzAnalyze(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := (Analyzer{}).Analyze(context.Background(), analyzer.Input{Path: "x", Mode: 0o755, Content: b}); err != nil {
			t.Fatal(err)
		}
	})
}
